"""Extraction metrics: validity rates through the ingest validator, field-level scores by hand."""

from __future__ import annotations

import json

import pytest

from evaluation.scoring.extraction import extraction_scores, field_pairs
from projects.ingest.schema import SchemaValidator

SCHEMA = SchemaValidator(
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "people": {"type": "integer"}},
        "required": ["city"],
    }
)


def test_field_precision_recall_f1_validity_and_exact_match():
    expected = [{"city": "Paris", "people": 2, "tags": ["a", "b"]}, '{"city": "Rome"}', {"city": "Oslo"}]
    outputs = ['{"city": "Paris", "people": 3, "tags": ["b"]}', "Rome, I think", '{"city": " Oslo "}']
    scores = extraction_scores(expected, outputs, validator=SCHEMA)
    # pairs: gold 4 + 1 + 1, predicted 3 + 0 + 1, matched city:Paris, tags:b, city:Oslo
    assert scores.precision == pytest.approx(3 / 4)
    assert scores.recall == pytest.approx(3 / 6)
    assert scores.f1 == pytest.approx(2 * 3 / (4 + 6))
    assert scores.per_field["city"].as_dict() == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3, "predicted": 2}
    )
    assert scores.per_field["people"].f1 == 0.0
    assert scores.per_field["tags"].as_dict() == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "predicted": 1}
    )
    assert scores.json_valid_rate == pytest.approx(2 / 3)
    assert scores.schema_valid_rate == pytest.approx(2 / 3)
    assert scores.exact_match == pytest.approx(1 / 3)  # Oslo, whitespace aside
    assert [e.true_positives for e in scores.examples] == [2, 0, 1]
    json.dumps(scores.as_dict(), allow_nan=False)


def test_how_nested_values_lists_and_nulls_count():
    answer = {
        "address": {"city": "Paris", "zip": None},
        "sizes": [2, 2.0, "2"],
        "entities": [{"name": "Ana", "type": "person"}],
        "notes": [],
    }
    assert field_pairs(answer) == {
        ("address.city", '"Paris"'): 1,
        ("sizes", "2"): 2,  # 2 and 2.0 are the same number, "2" is a string
        ("sizes", '"2"'): 1,
        ("entities", '{"name":"Ana","type":"person"}'): 1,  # an entity is right only as a whole
    }


def test_not_json_and_not_an_object_predict_nothing():
    scores = extraction_scores([{"a": 1}, {"a": 1}, {"a": 1}], ['{"a": 1', "[1]", "{'a': 1}"])
    assert scores.json_valid_rate == pytest.approx(1 / 3)
    assert scores.schema_valid_rate is None  # no schema given
    assert (scores.precision, scores.recall, scores.f1) == (None, 0.0, 0.0)
    assert scores.exact_match == 0.0
