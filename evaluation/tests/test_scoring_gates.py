"""Gates: thresholds, missing metrics, regressions against a reference, validated as JSON config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evaluation.scoring.gates import GATE_LIST, Gate, RegressionGate, evaluate_gates

RESULTS = {
    "all": {"accuracy": 0.91, "latency_p95_s": 0.4, "count": 300},
    "label:refund": {"accuracy": 0.80, "count": 40},
    "label:billing": {"accuracy": 0.95, "count": 60},
}


def test_threshold_gates_pass_and_fail_with_the_evidence():
    report = evaluate_gates(
        [
            Gate(metric="accuracy", comparator=">=", threshold=0.9),
            Gate(metric="accuracy", comparator=">", threshold=0.85, slice="label:refund"),
            Gate(metric="latency_p95_s", comparator="<", threshold=0.5),
        ],
        RESULTS,
    )
    assert [v.passed for v in report.verdicts] == [True, False, True]
    assert report.passed is False
    refund = report.verdicts[1]
    assert (refund.value, refund.threshold, refund.slice) == (0.80, 0.85, "label:refund")
    assert refund.reason == "accuracy = 0.8 on label:refund: not > 0.85."


def test_a_missing_metric_or_slice_fails_with_the_reason():
    report = evaluate_gates(
        [
            Gate(metric="macro_f1", comparator=">=", threshold=0.8),
            Gate(metric="accuracy", comparator=">=", threshold=0.8, slice="label:other"),
        ],
        {**RESULTS, "all": {**RESULTS["all"], "macro_f1": None}},
    )
    assert [(v.passed, v.value, v.reason) for v in report.verdicts] == [
        (False, None, "Metric 'macro_f1' is missing on slice 'all'."),
        (False, None, "No results for slice 'label:other'."),
    ]


def test_no_regression_beyond_x_points_on_any_slice():
    reference = {
        "all": {"accuracy": 0.90, "latency_p95_s": 0.3},
        "label:refund": {"accuracy": 0.86},
        "label:billing": {"accuracy": 0.94},
        "label:gone": {"accuracy": 0.70},
    }
    gates = [
        RegressionGate(metric="accuracy", max_drop=0.02, slice="label:*"),
        RegressionGate(metric="latency_p95_s", max_drop=0.05, higher_is_better=False),
    ]
    accuracy, latency = evaluate_gates(gates, RESULTS, reference=reference).verdicts
    assert not accuracy.passed
    assert [(r.slice, r.value, r.reference) for r in accuracy.regressions] == [
        ("label:gone", None, 0.70),  # the candidate has no result there: it cannot show it did not regress
        ("label:refund", 0.80, 0.86),
    ]
    assert accuracy.regressions[1].change == pytest.approx(-0.06)
    assert not latency.passed and latency.regressions[0].slice == "all"  # 0.3 s -> 0.4 s

    lenient = evaluate_gates(
        [RegressionGate(metric="accuracy", max_drop=0.07, slice="label:re*")], RESULTS, reference=reference
    )
    assert lenient.passed and lenient.verdicts[0].reason == "accuracy: no drop beyond 0.07 on 1 slice(s)."


def test_without_a_reference_a_regression_gate_is_not_evaluated_and_does_not_block():
    report = evaluate_gates([RegressionGate(metric="accuracy", max_drop=0.02)], RESULTS)
    verdict = report.verdicts[0]
    assert report.passed and verdict.evaluated is False
    assert "No reference" in verdict.reason


def test_gates_are_read_from_json_config():
    gates = GATE_LIST.validate_python(
        [
            {"kind": "threshold", "metric": "accuracy", "comparator": ">=", "threshold": 0.85},
            {"kind": "regression", "metric": "accuracy", "max_drop": 0.02},
        ]
    )
    assert isinstance(gates[0], Gate) and gates[0].slice == "all"
    assert isinstance(gates[1], RegressionGate) and gates[1].slice == "*"
    for bad in (
        {"metric": "accuracy", "comparator": ">=", "threshold": 0.8},  # which kind of gate?
        {"kind": "threshold", "metric": "accuracy", "comparator": "=>", "threshold": 0.8},
        {"kind": "threshold", "metric": "x", "comparator": ">=", "threshold": "nan"},
        {"kind": "regression", "metric": "accuracy", "max_drop": -0.1},
    ):
        with pytest.raises(ValidationError):
            GATE_LIST.validate_python([bad])
