"""The look every plotly figure shares (colours, fonts, axes); apps build their figures in charts.py."""

from __future__ import annotations

import plotly.graph_objects as go

ACCENT = "#2f5d8a"
SECOND = "#8fb3d9"
HIGHLIGHT = "#d9822b"
MUTED = "#6b7580"
GRID = "#eceff3"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def figure_layout(
    *, x_title: str, y_title: str, height: int = 320, x_from_zero: bool = False, **extra
) -> go.Layout:
    """A bare layout in the studio's look; `extra` adds or overrides layout keys (legend, hovermode…)."""
    axis = {"gridcolor": GRID, "zeroline": False, "linecolor": "#d5dae0", "ticks": "", "automargin": True}
    xaxis = {**axis, "title": {"text": x_title, "font": {"color": MUTED}}}
    if x_from_zero:
        xaxis["rangemode"] = "tozero"
    layout = {
        "template": "none",  # a bare template keeps the JSON small; the look is set here
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 16, "b": 48},
        "font": {"family": FONT, "size": 12, "color": "#1f2d3d"},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "bargap": 0.08,
        "showlegend": False,
        "hoverlabel": {"bgcolor": "#ffffff", "bordercolor": "#d5dae0", "font": {"family": FONT}},
        "xaxis": xaxis,
        "yaxis": {**axis, "title": {"text": y_title, "font": {"color": MUTED}}, "rangemode": "tozero"},
    }
    return go.Layout(**{**layout, **extra})
