"""Extraction outputs against a project's JSON Schema: jsonschema (Draft 2020-12) with RE2 patterns."""

from __future__ import annotations

import io
import json
import time

import pytest

from projects.ingest import Format, ingest
from projects.ingest.schema import SchemaError, SchemaValidator, check_schema

ORDER_SCHEMA = {
    "type": "object",
    "$defs": {
        "money": {
            "type": "object",
            "properties": {"amount": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]}},
            "required": ["amount", "currency"],
            "additionalProperties": False,
        }
    },
    "properties": {
        "total": {"$ref": "#/$defs/money"},
        "contact": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"email": {"type": "string", "format": "email"}},
                    "required": ["email"],
                },
                {"type": "object", "properties": {"phone": {"type": "string"}}, "required": ["phone"]},
            ]
        },
        "delivered_at": {"type": "string", "format": "date-time"},
    },
    "required": ["total", "contact"],
}


def ingest_outputs(outputs: list, schema: dict):
    data = b"".join(
        json.dumps({"input": f"row {i}", "output": out}).encode() + b"\n" for i, out in enumerate(outputs)
    )
    dest = io.BytesIO()
    report = ingest(
        io.BytesIO(data), fmt=Format.JSONL, dest=dest, task_type="extraction", output_schema=schema
    )
    return report, [json.loads(line) for line in dest.getvalue().splitlines()]


def errors_of(report) -> list[tuple[str, int | None, str | None, str | None]]:
    return [(issue.code, issue.line, issue.field, issue.details.get("keyword")) for issue in report.errors]


def test_ref_one_of_and_format_are_enforced_and_a_good_row_passes():
    good = {"total": {"amount": 3.5, "currency": "EUR"}, "contact": {"email": "ana@shop.org"}}
    report, written = ingest_outputs([good], ORDER_SCHEMA)
    assert report.ok, report.errors
    assert json.loads(written[0]["output"]) == good

    report, _ = ingest_outputs(
        [
            good,
            {"total": {"amount": -1, "currency": "EUR"}, "contact": {"email": "ana@shop.org"}},
            {"total": {"amount": 2, "currency": "EUR"}, "contact": {"email": "a@shop.org", "phone": "555"}},
            {"total": {"amount": 2, "currency": "EUR"}, "contact": {"email": "not an address"}},
            {"total": {"amount": 2, "currency": "EUR"}, "contact": {"phone": "1"}, "delivered_at": "Tuesday"},
        ],
        ORDER_SCHEMA,
    )
    assert errors_of(report) == [
        ("schema_violation", 2, "output.total.amount", "minimum"),  # behind a $ref
        ("schema_violation", 3, "output.contact", "oneOf"),  # matches both branches
        ("schema_violation", 4, "output.contact", "oneOf"),  # matches neither: the e-mail format fails
        ("schema_violation", 5, "output.delivered_at", "format"),
    ]


def test_required_and_additional_properties_name_the_property():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    violations = SchemaValidator(schema).validate({"a": "x", "c": 1})
    assert [(v.path, v.keyword) for v in violations] == [
        ("output.b", "required"),
        ("output.c", "additionalProperties"),
    ]
    nested = {"type": "object", "properties": {"entities": {"type": "array", "items": schema}}}
    assert [
        v.path for v in SchemaValidator(nested).validate({"entities": [{"a": "x", "b": 1}, {"b": 2}]})
    ] == ["output.entities[1].a"]


@pytest.mark.parametrize(
    ("pattern", "crafted"),
    [
        ("^(a+)+$", "a" * 60 + "!"),
        ("(a|aa)+$", "a" * 60 + "!"),
        ("(.*a){20}", "a" * 19 + "b" * 5000),
    ],
)
def test_catastrophic_patterns_are_answered_in_milliseconds(pattern, crafted):
    """Python's backtracking `re` needs minutes to hours on these rows; RE2 is linear in the input."""
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": pattern}},
        "patternProperties": {pattern: {"type": "integer"}},
        "additionalProperties": False,
    }
    started = time.perf_counter()
    report, _ = ingest_outputs([{"code": crafted}, {crafted: 1}, {crafted: "x"}] * 10, schema)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.2f}s"
    assert {(issue.code, issue.details.get("keyword")) for issue in report.errors} == {
        ("schema_violation", "pattern"),
        ("schema_violation", "additionalProperties"),
    }


@pytest.mark.parametrize(
    ("schema", "path", "reason"),
    [
        (
            {"type": "object", "properties": {"name": {"type": "string", "minLength": "5"}}},
            "output_schema.properties.name.minLength",
            "'5' is not of type 'integer'",
        ),
        ({"type": "strin"}, "output_schema.type", "'strin' is not one of ['array', 'boolean'"),
        (
            {"properties": {"a": {"pattern": r"(a)\1"}}},
            "output_schema.properties.a.pattern",
            "invalid escape",
        ),
        (
            {"patternProperties": {"(?=x)": {}}},
            "output_schema.patternProperties",
            "invalid perl operator: (?=",
        ),
        ({"$ref": "#/$defs/nope"}, "output_schema.$ref", "does not resolve inside the schema"),
        (
            {"properties": {"a": {"$ref": "https://example.com/a.json"}}},
            "output_schema.$ref",
            "nothing is fetched",
        ),
        (
            {"unevaluatedProperties": False, "allOf": [{"patternProperties": {"^x": {}}}]},
            "output_schema.unevaluatedProperties",
            "use additionalProperties",
        ),
        (["not", "an", "object"], "output_schema", "must be a JSON object"),
    ],
)
def test_an_unusable_schema_is_refused_with_the_path_of_the_keyword(schema, path, reason):
    with pytest.raises(SchemaError) as caught:
        check_schema(schema)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_a_property_called_pattern_is_not_a_keyword():
    check_schema(
        {"type": "object", "properties": {"pattern": {"type": "string"}, "$ref": {"type": "string"}}}
    )


def test_a_ref_loop_is_an_invalid_schema_error_not_a_crash():
    report, _ = ingest_outputs(
        [{"a": 1}], {"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "$ref": "#/$defs/loop"}
    )
    assert [(issue.code, issue.line, issue.field) for issue in report.errors] == [
        ("invalid_schema", 1, "output_schema")
    ]
    assert "$ref loop" in report.errors[0].message


def test_a_schema_nested_beyond_reason_is_refused_not_a_crash():
    schema: dict = {"type": "string"}
    for _ in range(3000):
        schema = {"type": "object", "properties": {"a": schema}}
    with pytest.raises(SchemaError, match="nested too deeply"):
        check_schema(schema)
