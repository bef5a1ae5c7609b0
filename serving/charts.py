"""Plotly figures for an endpoint's page and the team's weekly summary, from `serving.metrics` series."""

from __future__ import annotations

import plotly.graph_objects as go

from studio.charts import ACCENT, HIGHLIGHT, MUTED, SECOND, figure_layout

LEGEND = {"orientation": "h", "x": 0, "y": 1.12}


def _lines(x, traces: list[tuple[str, list, str, str]], *, y_title: str, x_title: str = "") -> str:
    """One figure of lines: traces are (name, values, colour, hover format)."""
    figure = go.Figure(
        data=[
            go.Scatter(
                x=x,
                y=values,
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 2},
                marker={"size": 5},
                connectgaps=False,
                hovertemplate=f"%{{x}}: {name} %{{y:{fmt}}}<extra></extra>",
            )
            for name, values, colour, fmt in traces
        ],
        layout=figure_layout(
            x_title=x_title,
            y_title=y_title,
            height=260,
            showlegend=len(traces) > 1,
            legend=LEGEND,
            hovermode="x unified",
            margin={"l": 56, "r": 16, "t": 28, "b": 40},
        ),
    )
    return figure.to_json()


def traffic_figures(series: list[dict], currency: str) -> dict[str, str]:
    """The endpoint page's charts, keyed by name: requests/s, latency, rates, tokens, cost."""
    x = [point["start"].strftime("%Y-%m-%d %H:%M") for point in series]

    def values(key, scale=1.0):
        return [None if point[key] is None else point[key] * scale for point in series]

    return {
        "requests": _lines(
            x, [("Requests/s", values("requests_per_second"), ACCENT, ".3f")], y_title="Requests/s"
        ),
        "latency": _lines(
            x,
            [
                ("p50", values("latency_p50_ms"), ACCENT, ".0f"),
                ("p95", values("latency_p95_ms"), HIGHLIGHT, ".0f"),
                ("p99", values("latency_p99_ms"), MUTED, ".0f"),
            ],
            y_title="Latency (ms)",
        ),
        "rates": _lines(
            x,
            [
                ("Errors %", values("error_rate", 100), HIGHLIGHT, ".1f"),
                ("Timeouts %", values("timeout_rate", 100), MUTED, ".1f"),
                ("Escalated %", values("escalation_rate", 100), ACCENT, ".1f"),
            ],
            y_title="% of requests",
        ),
        "tokens": _lines(
            x,
            [
                ("Prompt tokens", values("input_tokens"), ACCENT, ",d"),
                ("Completion tokens", values("output_tokens"), SECOND, ",d"),
            ],
            y_title="Tokens",
        ),
        "cost": _lines(
            x,
            [
                ("Per 1,000 requests", values("cost_per_1000_requests"), ACCENT, ".4f"),
                ("Per successful task", values("cost_per_success"), HIGHLIGHT, ".6f"),
            ],
            y_title=f"Cost ({currency})",
        ),
    }


def weekly_figure(weeks: list[dict], currency: str) -> str:
    """The team's weekly trajectories: requests (adoption), escalation share and cost."""
    x = [week["week_start"].strftime("%Y-%m-%d") for week in weeks]
    figure = go.Figure(
        data=[
            go.Bar(x=x, y=[week["requests"] for week in weeks], name="Requests", marker={"color": SECOND}),
            go.Scatter(
                x=x,
                y=[
                    None if week["escalation_rate"] is None else week["escalation_rate"] * 100
                    for week in weeks
                ],
                name="Escalated %",
                yaxis="y2",
                mode="lines+markers",
                line={"color": HIGHLIGHT, "width": 2},
            ),
            go.Scatter(
                x=x,
                y=[week["cost"] for week in weeks],
                name=f"Cost ({currency})",
                yaxis="y3",
                mode="lines+markers",
                line={"color": ACCENT, "width": 2, "dash": "dot"},
            ),
        ],
        layout=figure_layout(
            x_title="Week starting",
            y_title="Requests",
            height=280,
            showlegend=True,
            legend=LEGEND,
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "rangemode": "tozero",
                "title": {"text": "%"},
            },
            yaxis3={
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "visible": False,
                "rangemode": "tozero",
            },
            margin={"l": 56, "r": 48, "t": 28, "b": 40},
        ),
    )
    return figure.to_json()
