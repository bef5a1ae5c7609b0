"""Template filters for charts: ``{{ figure_json|figure_table }}`` (see ``studio.charts.figure_table``)."""

from django import template

from studio.charts import figure_table as _figure_table

register = template.Library()


@register.filter
def figure_table(figure):
    return _figure_table(figure)
