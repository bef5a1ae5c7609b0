"""Temperature scaling and the coverage/accuracy curve."""

from __future__ import annotations

import math

import pytest

from evaluation.scoring.calibration import (
    CoveragePoint,
    apply_temperature,
    coverage_curve,
    fit_temperature,
    lowest_threshold_for,
)
from evaluation.scoring.classification import calibration_error


def overconfident_set():
    """Every answer is "a" with probability 0.91 at T = 1, but only 70 of 100 are right."""
    scores = [{"a": 4.0, "b": 1.0, "c": 1.0}] * 100
    expected = ["a"] * 70 + ["b"] * 20 + ["c"] * 10
    return scores, expected


def ece_at(scores, expected, temperature):
    probabilities = [apply_temperature(row, temperature) for row in scores]
    confidences = [max(p.values()) for p in probabilities]
    correct = [max(p, key=p.get) == label for p, label in zip(probabilities, expected, strict=True)]
    return calibration_error(confidences, correct).ece


def test_a_fitted_temperature_lowers_the_ece_of_an_overconfident_model():
    scores, expected = overconfident_set()
    fit = fit_temperature(scores, expected)
    # The likelihood is highest where p(a) = 0.7: e^(3/T) = 0.7 * 2 / 0.3, T = 3 / ln(14/3)
    assert fit.temperature == pytest.approx(3 / math.log(14 / 3), abs=1e-3)
    assert fit.nll_after < fit.nll_before
    assert ece_at(scores, expected, 1.0) > 0.2
    assert ece_at(scores, expected, fit.temperature) < 0.01
    assert (fit.count, fit.skipped) == (100, 0)


def test_a_fit_that_gains_less_than_one_nat_over_the_set_keeps_the_model_s_own_confidence():
    # 9 of 10 right at p(a) = 0.91: the likeliest temperature is a little above 1, worth ~0.01 nat in all.
    scores = [{"a": 4.0, "b": 1.0, "c": 1.0}] * 10
    fit = fit_temperature(scores, ["a"] * 9 + ["b"])
    assert fit.temperature == 1.0 and fit.nll_after == fit.nll_before
    # Ten times the evidence of the overconfident set still fits (1,000 rows, 70 % right at p = 0.91).
    scores, expected = overconfident_set()
    assert fit_temperature(scores * 10, expected * 10).temperature == pytest.approx(
        3 / math.log(14 / 3), abs=1e-3
    )


def test_log_probabilities_with_unscored_labels_fit_the_same_temperature():
    scores, expected = overconfident_set()
    as_log_probs = [{k: v - 10.0 for k, v in row.items()} | {"d": -math.inf} for row in scores]
    unscorable = [{"a": 0.0, "b": -math.inf, "c": -math.inf, "d": -math.inf}]
    fit = fit_temperature(as_log_probs + unscorable, [*expected, "d"])
    assert fit.temperature == pytest.approx(3 / math.log(14 / 3), abs=1e-3)
    assert fit.skipped == 1  # its expected label has no score: no temperature can help it
    assert apply_temperature(as_log_probs[0], fit.temperature)["d"] == 0.0


def test_apply_temperature_gives_a_distribution():
    probabilities = apply_temperature({"a": 2.0, "b": 0.0}, 2.0)
    assert probabilities["a"] == pytest.approx(math.e / (math.e + 1))
    assert sum(probabilities.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        apply_temperature({"a": 1.0}, 0.0)


CONFIDENCES = [0.9, 0.8, 0.8, 0.6, 0.4]
CORRECT = [True, True, False, True, False]


def test_coverage_curve_at_every_distinct_confidence():
    curve = coverage_curve(CONFIDENCES, CORRECT)
    assert [p.as_dict() for p in curve] == [
        {"threshold": 0.4, "coverage": 1.0, "accuracy": 3 / 5, "count": 5},
        {"threshold": 0.6, "coverage": 0.8, "accuracy": 3 / 4, "count": 4},
        {"threshold": 0.8, "coverage": 0.6, "accuracy": 2 / 3, "count": 3},
        {"threshold": 0.9, "coverage": 0.2, "accuracy": 1.0, "count": 1},
    ]


def test_coverage_curve_at_given_thresholds_and_an_empty_tail():
    curve = coverage_curve(CONFIDENCES, CORRECT, thresholds=[0.95, 0.0, 0.5])
    assert curve == [
        CoveragePoint(0.0, 1.0, 0.6, 5),
        CoveragePoint(0.5, 0.8, 0.75, 4),
        CoveragePoint(0.95, 0.0, None, 0),
    ]


def test_the_lowest_threshold_reaching_a_target_accuracy():
    curve = coverage_curve(CONFIDENCES, CORRECT)
    assert lowest_threshold_for(curve, 0.7).threshold == 0.6  # handles 80 % of traffic at 75 %
    assert lowest_threshold_for(curve, 0.9).threshold == 0.9
    assert lowest_threshold_for(curve, 0.9, min_count=2) is None
