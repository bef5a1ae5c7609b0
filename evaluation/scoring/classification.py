"""Classification metrics: scikit-learn's accuracy, F1, per-label scores and confusion matrix, plus
expected calibration error, Brier score and reliability-diagram bins.

Labels. `labels` fixes the order of the per-label table and of the confusion matrix (the project's
label set); any other label found among the expected or predicted answers is appended, sorted, so the
matrix accounts for every example. Macro-F1 is scikit-learn's macro average over the labels that occur
among the expected or predicted answers (a label that occurs in neither has no defined F1 and is left
out). A label never predicted has precision None; a label never expected has recall None.

Calibration. `confidences` is the probability the model gave its own answer (the top label).
ECE uses `n_bins` equal-width bins over [0, 1] (bin i holds confidences in [i/n, (i+1)/n), the last bin
also holds 1.0): ECE = sum over bins of (bin count / N) * |bin accuracy - bin mean confidence|.

Brier score. With full probability vectors (`probabilities`, one {label: probability} per example,
absent labels counting as 0) it is the original multi-class Brier score,
mean over examples of sum over labels of (p - y)^2, in [0, 2] for any number of labels (not halved
for two labels). Without them it is one-vs-rest on the top label, mean of (confidence - correct)^2,
in [0, 1]. `brier_method` ("multiclass" | "top_label") says which one a result holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from .values import AsDict, number

DEFAULT_BINS = 10


@dataclass(frozen=True)
class LabelScores(AsDict):
    precision: float | None
    recall: float | None
    f1: float | None
    support: int
    predicted: int


@dataclass(frozen=True)
class ReliabilityBin(AsDict):
    lower: float
    upper: float
    count: int
    accuracy: float | None
    mean_confidence: float | None


@dataclass(frozen=True)
class CalibrationScores(AsDict):
    ece: float | None
    bins: list[ReliabilityBin]
    bin_scheme: str = "equal-width"


@dataclass(frozen=True)
class BrierScore(AsDict):
    value: float | None
    method: str  # "multiclass" | "top_label"


@dataclass(frozen=True)
class ClassificationScores(AsDict):
    count: int
    labels: list[str]
    accuracy: float | None
    macro_f1: float | None
    per_label: dict[str, LabelScores]
    confusion_matrix: list[list[int]]  # rows: expected label, columns: predicted label, in `labels` order
    outside_label_set: int  # predictions that are not one of the labels given
    ece: float | None = None
    reliability: list[ReliabilityBin] | None = None
    brier: float | None = None
    brier_method: str | None = None

    def summary(self) -> dict[str, float | None]:
        """The headline numbers, as gates and slices read them."""
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "ece": self.ece, "brier": self.brier}


def _label_order(
    labels: Sequence[str] | None, expected: Sequence[str], predicted: Sequence[str]
) -> list[str]:
    given = list(dict.fromkeys(labels or ()))
    others = sorted((set(expected) | set(predicted)) - set(given))
    return given + others


def classification_scores(
    expected: Sequence[str],
    predicted: Sequence[str],
    *,
    labels: Sequence[str] | None = None,
    confidences: Sequence[float] | None = None,
    probabilities: Sequence[Mapping[str, float]] | None = None,
    n_bins: int = DEFAULT_BINS,
) -> ClassificationScores:
    """Scores of `predicted` against `expected`; calibration when `confidences` is given (see module)."""
    if len(expected) != len(predicted):
        raise ValueError("expected and predicted differ in length.")
    order = _label_order(labels, expected, predicted)
    given = set(labels) if labels else set(order)
    calibration = brier = None
    if confidences is not None:
        correct = [e == p for e, p in zip(expected, predicted, strict=True)]
        calibration = calibration_error(confidences, correct, n_bins=n_bins)
        brier = brier_score(expected, probabilities=probabilities, confidences=confidences, correct=correct)
    if not expected:
        return ClassificationScores(0, order, None, None, {}, [], 0)
    precision, recall, f1, support = precision_recall_fscore_support(
        expected, predicted, labels=order, zero_division=np.nan
    )
    predicted_counts = np.asarray(confusion_matrix(expected, predicted, labels=order))
    per_label = {
        label: LabelScores(
            precision=number(precision[i]),
            recall=number(recall[i]),
            f1=number(f1[i]),
            support=int(support[i]),
            predicted=int(predicted_counts[:, i].sum()),
        )
        for i, label in enumerate(order)
    }
    return ClassificationScores(
        count=len(expected),
        labels=order,
        accuracy=number(accuracy_score(expected, predicted)),
        macro_f1=number(f1_score(expected, predicted, labels=order, average="macro", zero_division=np.nan)),
        per_label=per_label,
        confusion_matrix=predicted_counts.tolist(),
        outside_label_set=sum(1 for p in predicted if p not in given),
        ece=calibration.ece if calibration else None,
        reliability=calibration.bins if calibration else None,
        brier=brier.value if brier else None,
        brier_method=brier.method if brier else None,
    )


def calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], *, n_bins: int = DEFAULT_BINS
) -> CalibrationScores:
    """Expected calibration error over equal-width bins, with the reliability-diagram bins."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length.")
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1.")
    conf = np.asarray(confidences, dtype=float)
    hits = np.asarray(correct, dtype=float)
    if conf.size and (conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must lie in [0, 1].")
    index = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    bins, gap = [], 0.0
    for i in range(n_bins):
        members = index == i
        count = int(members.sum())
        accuracy = number(hits[members].mean()) if count else None
        mean_confidence = number(conf[members].mean()) if count else None
        if count:
            gap += count * abs(accuracy - mean_confidence)
        bins.append(ReliabilityBin(i / n_bins, (i + 1) / n_bins, count, accuracy, mean_confidence))
    return CalibrationScores(ece=number(gap / conf.size) if conf.size else None, bins=bins)


def brier_score(
    expected: Sequence[str],
    *,
    probabilities: Sequence[Mapping[str, float]] | None = None,
    confidences: Sequence[float] | None = None,
    correct: Sequence[bool] | None = None,
) -> BrierScore:
    """Multi-class Brier from `probabilities` when given, else top-label Brier from `confidences`."""
    if probabilities is not None:
        if len(probabilities) != len(expected):
            raise ValueError("expected and probabilities differ in length.")
        if not expected:
            return BrierScore(None, "multiclass")
        # scikit-learn reads the columns in sorted label order, whatever order `labels` is given in
        columns = sorted(set(expected).union(*(row.keys() for row in probabilities)))
        rows = [dict(row) for row in probabilities]
        if len(columns) == 1:  # scikit-learn needs two columns: the rest of the mass goes to an unnamed one
            columns = ["", *columns]
            for row in rows:
                row[""] = 1.0 - row.get(columns[1], 0.0)
        matrix = np.array([[row.get(label, 0.0) for label in columns] for row in rows], dtype=float)
        value = brier_score_loss(list(expected), matrix, labels=columns, scale_by_half=False)
        return BrierScore(number(value), "multiclass")
    if confidences is None or correct is None:
        raise ValueError("Give probabilities, or confidences with correct.")
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length.")
    if not confidences:
        return BrierScore(None, "top_label")
    value = brier_score_loss(
        np.asarray(correct, dtype=int), np.asarray(confidences, dtype=float), pos_label=1
    )
    return BrierScore(number(value), "top_label")
