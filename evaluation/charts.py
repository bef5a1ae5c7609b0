"""Plotly figures for the evaluation pages, each with the rows of its accessible table view.

Charts return `(figure, table)`: the figure as a dict for includes/plotly_chart.html and the same numbers
as `{"columns": [...], "rows": [[...], ...]}` for includes/chart_table.html. Heatmaps (slices, confusion
matrix) are shaded tables (includes/heatmap_table.html): readable as they are, and drawn without the
inline styles plotly's heatmaps need, which the Content-Security-Policy refuses.
"""

from __future__ import annotations

import plotly.graph_objects as go

from studio.charts import ACCENT, GRID, HIGHLIGHT, MUTED, SECOND, figure_layout


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def metric_bars(points: list[tuple[str, float | None]], metric: str) -> tuple[dict, dict]:
    """One bar per model version for `metric`."""
    names = [name for name, _ in points]
    values = [value for _, value in points]
    figure = go.Figure(
        go.Bar(x=names, y=values, marker_color=ACCENT, hovertemplate="%{x}: %{y:.3f}<extra></extra>"),
        layout=figure_layout(x_title="Model version", y_title=metric, height=300),
    )
    return figure.to_plotly_json(), {
        "columns": ["Version", metric],
        "rows": [[n, _fmt(v)] for n, v in points],
    }


def _shade(value: float | None, top: float) -> int:
    """A background step 0..4 for a heatmap cell (a CSS class: no inline style under the CSP)."""
    if value is None or top <= 0:
        return 0
    return min(4, max(0, round(4 * value / top)))


def slice_heatmap(
    versions: list[str], slices: list[str], values: list[list[float | None]], metric: str
) -> dict:
    """Versions (rows) by slices (columns) of one metric, as a shaded table (a heatmap that is its own
    table view)."""
    rows = [
        [version, *({"text": _fmt(v), "shade": _shade(v, 1.0)} for v in row)]
        for version, row in zip(versions, values, strict=True)
    ]
    return {"columns": ["Version", *slices], "rows": rows, "metric": metric}


def quality_cost_scatter(points: list[tuple[str, float | None, float | None]], metric: str):
    """Quality against cost per 1,000 requests, with the Pareto front (cheaper and better is up-left)."""
    known = sorted(
        (cost, value, name) for name, value, cost in points if value is not None and cost is not None
    )
    front, best = [], float("-inf")
    for cost, value, name in known:
        if value > best:
            front.append((cost, value, name))
            best = value
    figure = go.Figure(
        [
            go.Scatter(
                x=[c for c, _, _ in known],
                y=[v for _, v, _ in known],
                text=[n for _, _, n in known],
                mode="markers+text",
                textposition="top center",
                marker={"color": SECOND, "size": 10},
                name="Versions",
                hovertemplate="%{text}: %{y:.3f} at %{x:.4f} per 1,000<extra></extra>",
            ),
            go.Scatter(
                x=[c for c, _, _ in front],
                y=[v for _, v, _ in front],
                mode="lines",
                line={"color": HIGHLIGHT, "dash": "dot"},
                name="Pareto front",
                hoverinfo="skip",
            ),
        ],
        layout=figure_layout(x_title="Cost per 1,000 requests", y_title=metric, height=300, x_from_zero=True),
    )
    on_front = {name for _, _, name in front}
    rows = [[n, _fmt(v), _fmt(c, 4), "yes" if n in on_front else ""] for n, v, c in points]
    return figure.to_plotly_json(), {
        "columns": ["Version", metric, "Cost per 1,000", "On the front"],
        "rows": rows,
    }


def coverage_curve(curve: list[dict], *, threshold: float | None, target: float | None):
    """Share of traffic the model would answer itself (coverage) and its accuracy there, per threshold."""
    thresholds = [p["threshold"] for p in curve]
    figure = go.Figure(
        [
            go.Scatter(
                x=thresholds, y=[p["coverage"] for p in curve], name="Coverage", line={"color": ACCENT}
            ),
            go.Scatter(
                x=thresholds, y=[p["accuracy"] for p in curve], name="Accuracy", line={"color": HIGHLIGHT}
            ),
        ],
        layout=figure_layout(
            x_title="Confidence threshold",
            y_title="Share",
            height=320,
            showlegend=True,
            legend={"orientation": "h", "x": 0, "y": 1.1},
            yaxis={"range": [0, 1.05], "gridcolor": GRID},
        ),
    )
    if threshold is not None:
        figure.add_vline(
            x=threshold, line={"color": MUTED, "dash": "dash"}, annotation_text="charter threshold"
        )
    if target is not None:
        figure.add_hline(y=target, line={"color": MUTED, "dash": "dot"}, annotation_text="target accuracy")
    rows = [
        [_fmt(p["threshold"], 2), _fmt(p["coverage"]), _fmt(p["accuracy"]), p.get("count", "")] for p in curve
    ]
    return figure.to_plotly_json(), {
        "columns": ["Threshold", "Coverage", "Accuracy", "Answered"],
        "rows": rows,
    }


def reliability_diagram(bins: list[dict]):
    """Mean confidence against accuracy per confidence bin; the diagonal is perfect calibration."""
    used = [b for b in bins if b.get("count")]
    figure = go.Figure(
        [
            go.Scatter(
                x=[0, 1], y=[0, 1], mode="lines", line={"color": GRID, "dash": "dash"}, hoverinfo="skip"
            ),
            go.Scatter(
                x=[b["mean_confidence"] for b in used],
                y=[b["accuracy"] for b in used],
                mode="lines+markers",
                marker={"size": [6 + min(b["count"], 40) / 4 for b in used], "color": ACCENT},
                hovertemplate="confidence %{x:.2f}: accuracy %{y:.2f}<extra></extra>",
            ),
        ],
        layout=figure_layout(x_title="Mean confidence", y_title="Accuracy", height=320),
    )
    rows = [
        [f"{b['lower']:.1f}-{b['upper']:.1f}", b["count"], _fmt(b["mean_confidence"]), _fmt(b["accuracy"])]
        for b in bins
    ]
    return figure.to_plotly_json(), {
        "columns": ["Bin", "Examples", "Mean confidence", "Accuracy"],
        "rows": rows,
    }


def confusion_matrix(labels: list[str], matrix: list[list[int]]) -> dict:
    """Rows: expected label; columns: predicted label; as a shaded table."""
    top = max((cell for row in matrix for cell in row), default=0)
    rows = [
        [label, *({"text": str(cell), "shade": _shade(cell, top)} for cell in row)]
        for label, row in zip(labels, matrix, strict=True)
    ]
    return {"columns": ["Expected \\ predicted", *labels], "rows": rows}
