"""Extraction metrics: JSON-valid and schema-valid rates, field-level precision/recall/F1, exact match.

How values count. An answer is JSON-valid when it parses as strict JSON (no NaN, no duplicate keys:
`projects.ingest.jsonstrict`); it is schema-valid when it also satisfies the project's schema through
the ingest validator (`projects.ingest.schema`, the same checks as uploads). Expected answers may be
objects or the canonical JSON text the dataset stores.

Field scores compare multisets of (field, value) pairs, micro-averaged over all examples:

- an object contributes one pair per leaf, its field the dotted path (`address.city`);
- a list contributes one pair per element, under the list's own field (`toppings`), in any order;
  an element that is itself an object or list is one value compared whole (canonical JSON), so
  `entities: [{"name": "Ana", "type": "person"}]` is right only if the whole entity is;
- null, empty lists and empty objects contribute nothing (an absent slot and a null slot agree);
- strings compare after stripping and collapsing whitespace, case-sensitively; numbers compare by
  value (2 == 2.0); "2" (a string) is not 2.

A pair in both answers is a true positive (as many times as it occurs in both), one only in the
prediction a false positive, one only in the expected answer a false negative. An answer that is not
a JSON object predicts no pairs. Exact match: the two answers have the same multiset of pairs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projects.ingest.jsonstrict import canonical_json, loads_strict
from projects.ingest.schema import SchemaValidator

from .values import AsDict, share

Pair = tuple[str, str]


@dataclass(frozen=True)
class FieldScores(AsDict):
    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # pairs of this field in the expected answers
    predicted: int  # pairs of this field in the predictions


@dataclass(frozen=True)
class ExtractionExample(AsDict):
    json_valid: bool
    schema_valid: bool | None  # None when no schema was given
    exact_match: bool
    true_positives: int
    predicted_pairs: int
    expected_pairs: int


@dataclass(frozen=True)
class ExtractionScores(AsDict):
    count: int
    json_valid_rate: float | None
    schema_valid_rate: float | None
    exact_match: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    per_field: dict[str, FieldScores]
    examples: list[ExtractionExample]

    def summary(self) -> dict[str, float | None]:
        return {
            "json_valid_rate": self.json_valid_rate,
            "schema_valid_rate": self.schema_valid_rate,
            "exact_match": self.exact_match,
            "field_precision": self.precision,
            "field_recall": self.recall,
            "field_f1": self.f1,
        }


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(" ".join(value.split()), ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return canonical_json(int(value))
    return canonical_json(value)


def field_pairs(value: Any, field: str = "") -> Counter[Pair]:
    """The (field, value) pairs of an answer, as the module docstring defines them."""
    pairs: Counter[Pair] = Counter()
    if isinstance(value, Mapping):
        for key, child in value.items():
            pairs.update(field_pairs(child, f"{field}.{key}" if field else str(key)))
    elif isinstance(value, list):
        for element in value:
            if isinstance(element, Mapping | list):
                if element:
                    pairs[(field, canonical_json(element))] += 1
            elif element is not None:
                pairs[(field, _scalar(element))] += 1
    elif value is not None:
        pairs[(field, _scalar(value))] += 1
    return pairs


def _parse(text: str) -> tuple[bool, Any]:
    try:
        return True, loads_strict(text)
    except ValueError:  # json.JSONDecodeError and StrictJSONError are both ValueErrors
        return False, None


def _expected_value(expected: Mapping[str, Any] | str) -> Any:
    return loads_strict(expected) if isinstance(expected, str) else expected


def _example(
    expected: Mapping[str, Any] | str, output: str, validator: SchemaValidator | None
) -> tuple[ExtractionExample, Counter[Pair], Counter[Pair]]:
    gold = field_pairs(_expected_value(expected))
    json_valid, value = _parse(output)
    is_object = isinstance(value, dict)
    guess = field_pairs(value) if is_object else Counter()
    schema_valid = None if validator is None else (is_object and validator.is_valid(value))
    example = ExtractionExample(
        json_valid=json_valid,
        schema_valid=schema_valid,
        exact_match=is_object and guess == gold,
        true_positives=sum((gold & guess).values()),
        predicted_pairs=sum(guess.values()),
        expected_pairs=sum(gold.values()),
    )
    return example, gold, guess


def _f1(true_positives: int, predicted: int, expected: int) -> float | None:
    """2TP / (2TP + FP + FN): 0 when nothing matched, None only when there was nothing at all."""
    return share(2 * true_positives, predicted + expected)


def extraction_scores(
    expected: Sequence[Mapping[str, Any] | str],
    outputs: Sequence[str],
    *,
    validator: SchemaValidator | None = None,
) -> ExtractionScores:
    """Scores of the model's raw `outputs` (text) against the `expected` answers."""
    if len(expected) != len(outputs):
        raise ValueError("expected and outputs differ in length.")
    examples = []
    true_positive: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    support: Counter[str] = Counter()
    for gold_answer, output in zip(expected, outputs, strict=True):
        example, gold, guess = _example(gold_answer, output, validator)
        examples.append(example)
        for (field, _), count in (gold & guess).items():
            true_positive[field] += count
        for (field, _), count in guess.items():
            predicted[field] += count
        for (field, _), count in gold.items():
            support[field] += count
    per_field = {}
    for field in sorted(support.keys() | predicted.keys()):
        precision = share(true_positive[field], predicted[field])
        recall = share(true_positive[field], support[field])
        f1 = _f1(true_positive[field], predicted[field], support[field])
        per_field[field] = FieldScores(precision, recall, f1, support[field], predicted[field])
    total = len(examples)
    precision = share(true_positive.total(), predicted.total())
    recall = share(true_positive.total(), support.total())
    return ExtractionScores(
        count=total,
        json_valid_rate=share(sum(e.json_valid for e in examples), total),
        schema_valid_rate=None
        if validator is None
        else share(sum(bool(e.schema_valid) for e in examples), total),
        exact_match=share(sum(e.exact_match for e in examples), total),
        precision=precision,
        recall=recall,
        f1=_f1(true_positive.total(), predicted.total(), support.total()),
        per_field=per_field,
        examples=examples,
    )
