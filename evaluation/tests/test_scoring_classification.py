"""Classification metrics against values worked out by hand."""

from __future__ import annotations

import json

import pytest

from evaluation.scoring.classification import brier_score, calibration_error, classification_scores

EXPECTED = ["cat", "cat", "dog", "dog", "bird"]
PREDICTED = ["cat", "dog", "dog", "dog", "cat"]


def test_accuracy_macro_f1_per_label_and_confusion_matrix():
    scores = classification_scores(EXPECTED, PREDICTED, labels=["dog", "cat", "bird"])
    # cat: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2; dog: TP 2, FP 1 -> P 2/3, R 1, F1 4/5;
    # bird: never predicted, missed once -> P undefined, R 0, F1 0.
    assert scores.accuracy == pytest.approx(3 / 5)
    assert scores.macro_f1 == pytest.approx((1 / 2 + 4 / 5 + 0) / 3)
    assert scores.per_label["dog"].as_dict() == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2, "predicted": 3}
    )
    assert scores.per_label["bird"].precision is None
    assert scores.per_label["bird"].recall == 0.0
    assert scores.labels == ["dog", "cat", "bird"]
    assert scores.confusion_matrix == [[2, 0, 0], [1, 1, 0], [0, 1, 0]]  # rows expected, columns predicted
    assert scores.outside_label_set == 0


def test_a_label_nobody_used_is_left_out_of_macro_f1_and_answers_outside_the_set_are_counted():
    scores = classification_scores(EXPECTED, [*PREDICTED[:4], "fish"], labels=["dog", "cat", "bird", "eel"])
    # eel: neither expected nor predicted -> no F1; fish: predicted once, never right -> F1 0.
    # cat now: TP 1, FP 0, FN 1 -> F1 2/3; dog 4/5; bird 0.
    assert scores.per_label["eel"].f1 is None
    assert scores.labels == ["dog", "cat", "bird", "eel", "fish"]
    assert scores.macro_f1 == pytest.approx((4 / 5 + 2 / 3 + 0 + 0) / 4)
    assert scores.outside_label_set == 1
    assert sum(map(sum, scores.confusion_matrix)) == len(EXPECTED)


def test_expected_calibration_error_over_equal_width_bins():
    confidences = [0.95, 0.85, 0.75, 0.65, 0.55, 0.9]
    correct = [True, False, True, True, False, True]
    result = calibration_error(confidences, correct, n_bins=5)
    # [0.4,0.6): 1 wrong at 0.55 -> 0.55; [0.6,0.8): 2 right at mean 0.7 -> 2 * 0.3;
    # [0.8,1.0]: 2 of 3 right at mean 0.9 -> 3 * |2/3 - 0.9|
    assert result.ece == pytest.approx((0.55 + 0.6 + 3 * (0.9 - 2 / 3)) / 6)
    assert [b.count for b in result.bins] == [0, 0, 1, 2, 3]
    assert result.bins[3].as_dict() == pytest.approx(
        {"lower": 0.6, "upper": 0.8, "count": 2, "accuracy": 1.0, "mean_confidence": 0.7}
    )
    assert result.bins[0].accuracy is None and result.bin_scheme == "equal-width"
    assert calibration_error([1.0], [True], n_bins=5).bins[-1].count == 1  # 1.0 falls in the last bin


def test_multiclass_brier_from_probability_vectors_in_any_key_order():
    probabilities = [{"dog": 0.7, "cat": 0.2, "bird": 0.1}, {"cat": 0.6, "dog": 0.4}]
    # (0.3^2 + 0.2^2 + 0.1^2) = 0.14 and (0.6^2 + 0.6^2 + 0) = 0.72
    result = brier_score(["dog", "dog"], probabilities=probabilities)
    assert result.method == "multiclass"
    assert result.value == pytest.approx((0.14 + 0.72) / 2)


def test_top_label_brier_without_probability_vectors():
    result = brier_score(["a", "b"], confidences=[0.9, 0.6], correct=[True, False])
    assert result.method == "top_label"
    assert result.value == pytest.approx((0.1**2 + 0.6**2) / 2)


def test_the_whole_result_is_plain_json():
    scores = classification_scores(
        EXPECTED, PREDICTED, confidences=[0.9, 0.8, 0.7, 0.6, 0.5], probabilities=[{"cat": 1.0}] * 5
    )
    stored = json.loads(json.dumps(scores.as_dict(), allow_nan=False))
    assert stored["brier_method"] == "multiclass"
    assert len(stored["reliability"]) == 10
    assert set(scores.summary()) == {"accuracy", "macro_f1", "ece", "brier"}
    assert classification_scores([], []).accuracy is None
