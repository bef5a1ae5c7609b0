"""Slice keys and per-slice aggregation of any metric."""

from __future__ import annotations

import pytest

from evaluation.scoring.classification import classification_scores
from evaluation.scoring.slices import LengthBuckets, by_slice, metric_table, slice_keys


def test_length_buckets_are_named_by_their_range():
    buckets = LengthBuckets(unit="chars", edges=(10, 100))
    assert [buckets.name(n) for n in (0, 10, 11, 100, 101)] == [
        "chars <=10",
        "chars <=10",
        "chars 11-100",
        "chars 11-100",
        "chars >100",
    ]
    assert buckets.names() == ["chars <=10", "chars 11-100", "chars >100"]
    with pytest.raises(ValueError):
        LengthBuckets(edges=(64, 16))


def test_a_case_belongs_to_all_its_label_length_layer_and_tags():
    keys = slice_keys(
        label="refund", input_length=40, layer="stress", tags=["vip", "perturbation:typos", "vip"]
    )
    assert keys == [
        "all",
        "label:refund",
        "length:tokens 17-64",
        "layer:stress",
        "tag:vip",
        "tag:perturbation:typos",
    ]
    assert slice_keys() == ["all"]


def test_any_metric_per_slice_with_a_minimum_count():
    records = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
    keys = [
        slice_keys(label=expected, tags=["web"] if i < 3 else []) for i, (expected, _) in enumerate(records)
    ]

    def accuracy(rows):
        return classification_scores([e for e, _ in rows], [p for _, p in rows], labels=["a", "b"]).summary()

    results = by_slice(records, keys, accuracy, min_count=2)
    assert results["all"].value["accuracy"] == pytest.approx(3 / 4)
    assert results["label:a"].value["accuracy"] == pytest.approx(1 / 2)
    assert results["tag:web"].value["accuracy"] == pytest.approx(2 / 3)
    table = metric_table(results)
    assert table["label:b"]["accuracy"] == 1.0 and table["label:b"]["count"] == 2
    few = by_slice(records[:3], keys[:3], accuracy, min_count=3)
    assert few["label:b"].count == 1 and few["label:b"].value is None
