"""Latency percentiles, throughput and cost estimates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evaluation.scoring.operational import HardwarePrice, operational_scores

PRICES = HardwarePrice(cpu_per_hour=2.0, gpu_per_hour=7.2)


def test_latency_throughput_and_cost_per_request_and_per_successful_task():
    scores = operational_scores(
        latencies_s=[0.1, 0.2, 0.3, 0.4, 1.0],
        output_tokens=180,
        busy_seconds=36.0,
        successes=4,
        device="cpu",
        prices=PRICES,
    )
    assert scores.latency_p50_s == pytest.approx(0.3)
    assert scores.latency_p95_s == pytest.approx(0.4 + 0.8 * (1.0 - 0.4))  # linear interpolation
    assert scores.tokens_per_second == pytest.approx(5.0)
    # 36 s at $2/h = $0.02 for the run: $4 per 1,000 requests, $0.005 per successful task
    assert scores.cost_per_1000_requests == pytest.approx(4.0)
    assert scores.cost_per_successful_task == pytest.approx(0.005)


def test_the_gpu_price_applies_on_gpu_and_no_success_has_no_cost_per_task():
    scores = operational_scores(
        latencies_s=[0.05] * 10, output_tokens=0, busy_seconds=1.0, successes=0, device="gpu", prices=PRICES
    )
    assert scores.cost_per_1000_requests == pytest.approx(7.2 / 3600 / 10 * 1000)
    assert scores.cost_per_successful_task is None


def test_prices_cannot_be_negative():
    with pytest.raises(ValidationError):
        HardwarePrice(cpu_per_hour=-1, gpu_per_hour=1)
