"""Plotly figures for dataset pages, built from a version's stored statistics (no rows are read)."""

from __future__ import annotations

import plotly.graph_objects as go

from studio.charts import ACCENT, MUTED, figure_layout


def label_distribution_figure(distribution: dict[str, int], *, limit: int = 40) -> go.Figure:
    """Rows per label, most frequent first; beyond `limit` labels the rest are summed as “other”."""
    items = sorted(distribution.items(), key=lambda item: (-item[1], item[0]))
    if len(items) > limit:
        rest = sum(count for _, count in items[limit - 1 :])
        items = [*items[: limit - 1], (f"other ({len(items) - limit + 1} labels)", rest)]
    labels = [label for label, _ in items]
    counts = [count for _, count in items]
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=counts,
            marker={"color": ACCENT},
            text=counts,
            textposition="outside",
            width=0.6 if len(labels) <= 6 else None,
            cliponaxis=False,
            hovertemplate="%{x}: %{y} rows<extra></extra>",
        ),
        layout=figure_layout(x_title="Label", y_title="Rows"),
    )
    figure.update_xaxes(type="category", tickangle=-30 if len(labels) > 8 else 0)
    return figure


def length_histogram_figure(summary: dict, *, unit: str, color: str = ACCENT) -> go.Figure:
    """A histogram of lengths from a stats summary ({histogram: {edges, counts}, p50, p95})."""
    histogram = summary.get("histogram") or {}
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    starts, widths, ranges = [], [], []
    for index, _ in enumerate(counts):
        low, high = edges[index], edges[index + 1]
        starts.append(low + (high - low - 1) / 2)  # integer lengths: a bin covers low … high - 1
        widths.append(high - low)
        ranges.append(f"{low} to {high - 1}" if high - low > 1 else str(low))
    figure = go.Figure(
        go.Bar(
            x=starts,
            y=counts,
            width=widths,
            customdata=ranges,
            marker={"color": color, "line": {"color": "#ffffff", "width": 1}},
            hovertemplate=f"%{{customdata}} {unit}: %{{y}} rows<extra></extra>",
        ),
        layout=figure_layout(x_title=f"Length ({unit})", y_title="Rows", height=280),
    )
    if edges and edges[-1] - edges[0] <= 12:
        figure.update_xaxes(dtick=1)
    for key, dash in (("p50", "dot"), ("p95", "dash")):
        if summary.get(key) is not None:
            figure.add_vline(
                x=summary[key],
                line={"color": MUTED, "width": 1, "dash": dash},
                annotation={"text": f"{key} {summary[key]}", "font": {"size": 11, "color": MUTED}},
                annotation_position="top right",
            )
    return figure
