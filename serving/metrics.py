"""Figures of an endpoint's traffic, read from its request log: rates, latency percentiles, escalation
share, tokens and cost, over a window and per time bucket; shadow against production; a team's week.

Reads only (the selectors' counterpart for numbers). A window reads at most MAX_ROWS requests, newest first,
so a page never loads an unbounded log."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from serving.choices import Route
from serving.models import Endpoint, RequestLog

MAX_ROWS = 200_000
TIMEOUT_STATUS = 504
ROW_FIELDS = (
    "created_at",
    "latency_ms",
    "status_code",
    "route",
    "error_code",
    "input_tokens",
    "output_tokens",
)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def token_cost(tokens: int) -> float:
    return tokens / 1000 * settings.STUDIO_SERVING_COST_PER_1K_TOKENS


def is_timeout(status_code: int, error_code: str) -> bool:
    return status_code == TIMEOUT_STATUS or "timeout" in (error_code or "")


@dataclass
class Figures:
    """What one window (or one bucket) of requests adds up to."""

    seconds: float
    requests: int = 0
    successes: int = 0
    errors: int = 0
    timeouts: int = 0
    escalations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    def add(self, row: tuple) -> None:
        _, latency_ms, status_code, route, error_code, input_tokens, output_tokens = row
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if is_timeout(status_code, error_code):
            self.timeouts += 1
        elif status_code >= 400:
            self.errors += 1
        else:
            self.latencies.append(latency_ms)
            if route == Route.ESCALATE:
                self.escalations += 1
            else:
                self.successes += 1

    def _share(self, count: int) -> float | None:
        return count / self.requests if self.requests else None

    def summary(self) -> dict:
        latencies = sorted(self.latencies)
        cost = token_cost(self.input_tokens + self.output_tokens)
        return {
            "requests": self.requests,
            "requests_per_second": self.requests / self.seconds if self.seconds else 0.0,
            "latency_p50_ms": percentile(latencies, 0.50),
            "latency_p95_ms": percentile(latencies, 0.95),
            "latency_p99_ms": percentile(latencies, 0.99),
            "error_rate": self._share(self.errors),
            "timeout_rate": self._share(self.timeouts),
            "escalation_rate": self._share(self.escalations),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": cost,
            "cost_per_1000_requests": cost / self.requests * 1000 if self.requests else None,
            "cost_per_success": cost / self.successes if self.successes else None,
            "successes": self.successes,
        }


def _rows(endpoint: Endpoint, start: datetime, end: datetime):
    return (
        RequestLog.objects.filter(endpoint=endpoint, created_at__gte=start, created_at__lt=end)
        .exclude(route=Route.SHADOW)
        .order_by("-created_at")
        .values_list(*ROW_FIELDS)[:MAX_ROWS]
    )


def endpoint_metrics(
    endpoint: Endpoint, *, hours: int = 24, buckets: int = 24, now: datetime | None = None
) -> dict:
    """{"window": summary of the last `hours`, "series": [summary per bucket, oldest first, with "start"]}.

    A successful task is a 2xx answer the model gave itself (not escalated); errors are other 4xx/5xx
    answers, timeouts a 504 or a timeout error code. Cost counts prompt and completion tokens at
    STUDIO_SERVING_COST_PER_1K_TOKENS."""
    end = now or timezone.now()
    start = end - timedelta(hours=hours)
    width = timedelta(hours=hours) / buckets
    window = Figures(seconds=hours * 3600)
    series = [Figures(seconds=width.total_seconds()) for _ in range(buckets)]
    for row in _rows(endpoint, start, end):
        window.add(row)
        index = min(buckets - 1, int((row[0] - start) / width))
        series[index].add(row)
    return {
        "window": window.summary(),
        "series": [{"start": start + width * i, **figures.summary()} for i, figures in enumerate(series)],
        "hours": hours,
        "currency": settings.STUDIO_SERVING_COST_CURRENCY,
    }


def shadow_comparison(endpoint: Endpoint, *, hours: int = 24 * 7, now: datetime | None = None) -> dict | None:
    """Shadow answers against the production answers they shadowed: agreement (same logged output) and
    latency, next to both versions' offline metrics. None when the window has no shadow answers."""
    end = now or timezone.now()
    pairs = list(
        RequestLog.objects.filter(
            endpoint=endpoint,
            route=Route.SHADOW,
            shadow_of__isnull=False,
            created_at__gte=end - timedelta(hours=hours),
            created_at__lt=end,
        )
        .order_by("-created_at")
        .values_list(
            "model_version_id",
            "output_text",
            "latency_ms",
            "status_code",
            "shadow_of__output_text",
            "shadow_of__latency_ms",
            "shadow_of__model_version_id",
        )[:MAX_ROWS]
    )
    if not pairs:
        return None
    compared = [pair for pair in pairs if pair[3] < 400 and (pair[1] or pair[4])]
    agreeing = sum(1 for pair in compared if pair[1].strip() == pair[4].strip())
    shadow_latency = sorted(pair[2] for pair in pairs)
    production_latency = sorted(pair[5] for pair in pairs)
    return {
        "pairs": len(pairs),
        "compared": len(compared),
        "agreement": agreeing / len(compared) if compared else None,
        "shadow_errors": sum(1 for pair in pairs if pair[3] >= 400),
        "shadow_p50_ms": percentile(shadow_latency, 0.5),
        "shadow_p95_ms": percentile(shadow_latency, 0.95),
        "production_p50_ms": percentile(production_latency, 0.5),
        "production_p95_ms": percentile(production_latency, 0.95),
        "shadow_version_ids": sorted({pair[0] for pair in pairs if pair[0]}),
    }


def team_weekly_summary(endpoints, *, weeks: int = 6, now: datetime | None = None) -> list[dict]:
    """Per week (oldest first) across `endpoints`: requests, cost, escalation share and adoption (distinct
    API keys calling), for the trajectories on the team's home. One aggregate query per week."""
    end = now or timezone.now()
    endpoint_ids = [endpoint.pk for endpoint in endpoints]
    result = []
    for index in range(weeks, 0, -1):
        week_end = end - timedelta(weeks=index - 1)
        week_start = week_end - timedelta(weeks=1)
        totals = (
            RequestLog.objects.filter(
                endpoint_id__in=endpoint_ids, created_at__gte=week_start, created_at__lt=week_end
            )
            .exclude(route=Route.SHADOW)
            .aggregate(
                requests=Count("id"),
                escalations=Count("id", filter=Q(route=Route.ESCALATE)),
                tokens_in=Sum("input_tokens"),
                tokens_out=Sum("output_tokens"),
                keys=Count("api_key", distinct=True),
                successes=Count("id", filter=Q(status_code__lt=400) & ~Q(route=Route.ESCALATE)),
            )
        )
        cost = token_cost((totals["tokens_in"] or 0) + (totals["tokens_out"] or 0))
        result.append(
            {
                "week_start": week_start,
                "requests": totals["requests"],
                "successes": totals["successes"],
                "escalation_rate": totals["escalations"] / totals["requests"] if totals["requests"] else None,
                "cost": cost,
                "active_keys": totals["keys"],
            }
        )
    return result
