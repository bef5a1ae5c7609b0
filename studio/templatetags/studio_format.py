"""Numbers as people read them, in templates and in Python: ``{{ 0.125|percent }}`` is "12.5%"."""

from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """A rate in [0, 1] as a percentage to one decimal ("12.5%", so figures shown side by side add up:
    12.5% and a lift of +37.5 points make 50.0%); "—" for no value."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value):.1%}"
    except (TypeError, ValueError):
        return "—"
