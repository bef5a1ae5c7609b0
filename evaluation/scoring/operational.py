"""Operational figures: latency percentiles, throughput, and the estimated cost of serving.

Cost comes from the hardware price and the machine time measured: `busy_seconds` is how long the
device was occupied answering the `requests` (the eval run's wall time on it, batches included), so
cost of the run = busy_seconds / 3600 * price per hour of the device. Per 1,000 requests scales that
by 1000 / requests; per successful task divides it by the requests that succeeded (correct
classification, schema-valid extraction, generation that passes its rules: the caller decides), so a
cheap model that is often wrong is not cheap per task. Percentiles are numpy's (linear interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .values import AsDict, number

Device = Literal["cpu", "gpu"]


class HardwarePrice(BaseModel):
    """Configurable $/hour of the machines the model would be served on."""

    model_config = ConfigDict(extra="forbid")

    cpu_per_hour: float = Field(ge=0)
    gpu_per_hour: float = Field(ge=0)

    def per_hour(self, device: Device) -> float:
        return self.gpu_per_hour if device == "gpu" else self.cpu_per_hour


@dataclass(frozen=True)
class OperationalScores(AsDict):
    requests: int
    successes: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_mean_s: float | None
    tokens_per_second: float | None
    busy_seconds: float
    device: str
    price_per_hour: float
    cost_per_1000_requests: float | None
    cost_per_successful_task: float | None

    def summary(self) -> dict[str, float | None]:
        return {
            "latency_p50_s": self.latency_p50_s,
            "latency_p95_s": self.latency_p95_s,
            "tokens_per_second": self.tokens_per_second,
            "cost_per_1000_requests": self.cost_per_1000_requests,
            "cost_per_successful_task": self.cost_per_successful_task,
        }


def operational_scores(
    *,
    latencies_s: Sequence[float],
    output_tokens: int,
    busy_seconds: float,
    successes: int,
    device: Device,
    prices: HardwarePrice,
) -> OperationalScores:
    """Figures for one run of `len(latencies_s)` requests (one latency per example, in seconds)."""
    if busy_seconds < 0 or output_tokens < 0 or successes < 0:
        raise ValueError("busy_seconds, output_tokens and successes cannot be negative.")
    requests = len(latencies_s)
    if successes > requests:
        raise ValueError("More successes than requests.")
    latencies = np.asarray(latencies_s, dtype=float)
    price = prices.per_hour(device)
    run_cost = busy_seconds / 3600 * price
    return OperationalScores(
        requests=requests,
        successes=successes,
        latency_p50_s=number(np.percentile(latencies, 50)) if requests else None,
        latency_p95_s=number(np.percentile(latencies, 95)) if requests else None,
        latency_mean_s=number(latencies.mean()) if requests else None,
        tokens_per_second=output_tokens / busy_seconds if busy_seconds else None,
        busy_seconds=float(busy_seconds),
        device=device,
        price_per_hour=price,
        cost_per_1000_requests=run_cost / requests * 1000 if requests else None,
        cost_per_successful_task=run_cost / successes if successes else None,
    )
