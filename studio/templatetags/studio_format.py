"""Numbers as people read them: ``{{ 0.125|percent }}`` is "12.5%", ``{{ 0.5|percent }}`` "50%"."""

from django import template

register = template.Library()


@register.filter
def percent(value):
    """A rate in [0, 1] as a percentage to one decimal, the decimal dropped when it is 0, so that figures
    shown side by side add up (12.5% and a lift of +37.5 points make 50%); "—" for no value."""
    if value is None or value == "":
        return "—"
    try:
        shown = f"{float(value) * 100:.1f}".removesuffix(".0")
    except (TypeError, ValueError):
        return "—"
    return f"{shown}%"
