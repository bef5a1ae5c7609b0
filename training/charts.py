"""Plotly figures for training pages. The job page draws the loss curves from here, and
static/js/job_live.js keeps them current by replacing each trace's x/y (trace order is part of the contract:
0 = train loss, 1 = validation loss)."""

from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

from studio.charts import ACCENT, HIGHLIGHT, MUTED, figure_layout


def loss_curves_figure(points: Iterable) -> go.Figure:
    """Train loss per logged step and validation loss per evaluation."""
    train_steps, train_loss, val_steps, val_loss = [], [], [], []
    for point in points:
        if point.train_loss is not None:
            train_steps.append(point.step)
            train_loss.append(point.train_loss)
        if point.val_loss is not None:
            val_steps.append(point.step)
            val_loss.append(point.val_loss)
    figure = go.Figure(
        data=[
            go.Scatter(
                x=train_steps,
                y=train_loss,
                name="Train loss",
                mode="lines",
                line={"color": ACCENT, "width": 2},
                hovertemplate="step %{x}: train loss %{y:.4f}<extra></extra>",
            ),
            go.Scatter(
                x=val_steps,
                y=val_loss,
                name="Validation loss",
                mode="lines+markers",
                line={"color": HIGHLIGHT, "width": 2},
                marker={"size": 7},
                hovertemplate="step %{x}: validation loss %{y:.4f}<extra></extra>",
            ),
        ],
        layout=figure_layout(
            x_title="Step",
            y_title="Loss",
            height=340,
            x_from_zero=True,
            showlegend=True,
            legend={"orientation": "h", "x": 0, "y": 1.08},
            hovermode="x unified",
            margin={"l": 56, "r": 16, "t": 24, "b": 48},
        ),
    )
    if not train_steps and not val_steps:
        figure.add_annotation(
            text="No points yet: they appear after the first logged steps.",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            font={"color": MUTED, "size": 13},
        )
    return figure
