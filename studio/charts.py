"""The look every plotly figure shares (colours, fonts, axes); apps build their figures in charts.py."""

from __future__ import annotations

import json

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


def figure_table(figure) -> dict | None:
    """The numbers of a figure's x/y traces as a table ({"columns", "rows"}: one row per x value, one column
    per trace), for the table view every chart has beside it; None when no trace has plain x/y lists.
    A bar's text labels (``customdata`` strings, e.g. "4 to 7") name its row when it has them."""
    data = json.loads(figure) if isinstance(figure, str) else figure
    if isinstance(data, go.Figure):
        data = data.to_plotly_json()
    if not isinstance(data, dict):
        return None
    traces = [
        trace
        for trace in data.get("data") or []
        if isinstance(trace, dict) and isinstance(trace.get("x"), list) and isinstance(trace.get("y"), list)
    ]
    if not traces:
        return None
    layout = data.get("layout") or {}
    y_title = _axis_title(layout.get("yaxis")) or "Value"
    columns = [_axis_title(layout.get("xaxis")) or "", *(trace.get("name") or y_title for trace in traces)]
    rows: dict[str, list] = {}
    for index, trace in enumerate(traces):
        labels = trace.get("customdata")
        if not (isinstance(labels, list) and len(labels) == len(trace["x"])):
            labels = trace["x"]
        for label, value in zip(labels, trace["y"], strict=False):
            rows.setdefault(_cell(label), [""] * len(traces))[index] = _cell(value)
    return {"columns": columns, "rows": [[label, *values] for label, values in rows.items()]}


def _axis_title(axis) -> str:
    title = (axis or {}).get("title") if isinstance(axis, dict) else None
    return str(title.get("text") or "") if isinstance(title, dict) else str(title or "")


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
