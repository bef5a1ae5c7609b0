"""Ingestion: one fixture per validation case (code, line and field named), formats, warnings, stats."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from projects.ingest import (
    ERROR_CODES,
    WARNING_CODES,
    ColumnMapping,
    Format,
    detect_format,
    ingest,
    preview_rows,
    read_header,
    suggest_column_mapping,
)
from projects.ingest import readers as ingest_readers

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def run(name_or_bytes, fmt=None, task_type="classification", **kwargs):
    if isinstance(name_or_bytes, bytes):
        data = name_or_bytes
    else:
        data = (FIXTURES / name_or_bytes).read_bytes()
        fmt = fmt or detect_format(data[:4096], name_or_bytes)
    dest = io.BytesIO()
    report = ingest(io.BytesIO(data), fmt=fmt, dest=dest, task_type=task_type, **kwargs)
    return report, dest.getvalue()


def rows_of(written: bytes) -> list[dict]:
    return [json.loads(line) for line in written.splitlines()]


def jsonl(rows) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def only_error(report, code):
    assert report.ok is False
    matching = [issue for issue in report.errors if issue.code == code]
    assert matching, f"no {code} in {report.error_codes()}"
    return matching[0]


# --- one fixture per error code ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "task_type", "code", "line", "field"),
    [
        ("not_utf8.jsonl", "classification", "not_utf8", 3, None),
        ("malformed_json.jsonl", "classification", "malformed_json", 2, None),
        ("not_an_object.jsonl", "classification", "not_an_object", 2, None),
        ("missing_field.jsonl", "classification", "missing_field", 2, "output"),
        ("empty_field.jsonl", "classification", "empty_field", 3, "input"),
        ("wrong_type.jsonl", "classification", "wrong_type", 2, "input"),
        ("non_finite.jsonl", "classification", "non_finite_number", 2, "score"),
        ("non_finite_extraction.jsonl", "extraction", "non_finite_number", 2, "output.price"),
        ("nul_character.jsonl", "classification", "nul_character", 2, "input"),
        ("duplicate_key.jsonl", "classification", "duplicate_key", 2, "output"),
        ("output_not_json_object.jsonl", "extraction", "output_not_json_object", 2, "output"),
        ("malformed_csv.csv", "classification", "malformed_csv", 3, None),
        ("malformed_csv_quote.csv", "classification", "malformed_csv", 3, None),
        ("quoted_newlines.csv", "classification", "malformed_csv", 7, None),
        ("bad_chat_format.jsonl", "classification", "bad_chat_format", 2, "messages"),
        ("label_set_unfit.jsonl", "classification", "label_set_unfit", None, "output"),
        ("empty_file.jsonl", "classification", "empty_file", None, None),
        ("header_only.csv", "classification", "empty_file", None, None),
    ],
)
def test_each_error_fixture_names_code_line_and_field(fixture, task_type, code, line, field):
    report, _ = run(fixture, task_type=task_type)
    assert report.ok is False
    assert code in ERROR_CODES
    issue = report.errors[0]
    assert (issue.code, issue.line, issue.field) == (code, line, field)
    assert issue.as_dict()["code"] == code
    json.dumps(report.as_dict())  # the report is JSON-serialisable as a whole


def test_nesting_too_deep_names_the_path():
    issue = only_error(run("nesting_too_deep.jsonl", task_type="extraction")[0], "nesting_too_deep")
    assert issue.line == 2
    assert issue.field.startswith("output.a.a")
    assert issue.details["limit"] == 20


def test_extremely_deep_json_does_not_crash():
    deep = b'{"input": "x", "output": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    issue = only_error(run(deep, fmt="jsonl")[0], "nesting_too_deep")
    assert issue.line == 1


def test_output_not_json_object_also_for_a_json_array_in_a_string():
    report, written = run("output_not_json_object.jsonl", task_type="extraction")
    assert [(i.code, i.line) for i in report.errors] == [
        ("output_not_json_object", 2),
        ("output_not_json_object", 3),
    ]
    assert rows_of(written)[0] == {"input": "a", "output": '{"x":1}'}


def test_schema_violation_names_the_path():
    schema = {
        "type": "object",
        "properties": {"total": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]}},
        "required": ["total", "currency"],
        "additionalProperties": False,
    }
    report, _ = run("schema_violation.jsonl", task_type="extraction", output_schema=schema)
    assert report.ok is False
    assert [(i.code, i.line, i.field) for i in report.errors] == [
        ("schema_violation", 2, "output.total"),
        ("schema_violation", 3, "output.currency"),
    ]
    assert report.errors[1].details["keyword"] == "required"


def test_invalid_schema_is_an_error_not_a_crash():
    report, _ = run("schema_violation.jsonl", task_type="extraction", output_schema={"pattern": "("})
    issue = only_error(report, "invalid_schema")
    assert issue.field == "output_schema"


def test_wrong_column_names_the_missing_column():
    report, _ = run("wrong_column.csv", column_mapping=ColumnMapping("utterance", "label"))
    issue = only_error(report, "wrong_column")
    assert (issue.line, issue.field) == (1, "utterance")
    assert issue.details["header"] == ["text", "label"]


def test_bad_chat_format_reports_each_broken_conversation():
    report, written = run("bad_chat_format.jsonl", task_type="generation")
    assert [(i.code, i.line, i.field) for i in report.errors] == [
        ("bad_chat_format", 2, "messages"),
        ("bad_chat_format", 3, "messages[1].role"),
        ("bad_chat_format", 4, "messages[2].role"),
    ]
    assert rows_of(written) == [{"input": "hi", "output": "greeting"}]


def test_line_too_long():
    data = jsonl([{"input": "short", "output": "a"}, {"input": "x" * 5000, "output": "b"}])
    report, _ = run(data, fmt="jsonl", max_line_bytes=1000)
    issue = only_error(report, "line_too_long")
    assert issue.line == 2


def test_lone_surrogate_is_not_utf8():
    report, _ = run(b'{"input": "bad \\ud800 text", "output": "a"}\n', fmt="jsonl")
    issue = only_error(report, "not_utf8")
    assert (issue.line, issue.field) == (1, "input")


def test_csv_not_utf8_and_nul_name_the_record_line():
    report, written = run(b"text,label\ncaf\xe9,x\nok,y\nab\x00c,z\n", fmt="csv", task_type="generation")
    assert [(i.code, i.line, i.field) for i in report.errors] == [
        ("not_utf8", 2, None),
        ("nul_character", 4, "text"),
    ]
    assert rows_of(written) == [{"input": "ok", "output": "y"}]


def test_max_errors_stops_the_pass():
    data = b"not json\n" * 500
    report, _ = run(data, fmt="jsonl", max_errors=7)
    assert len(report.errors) == 7
    assert report.stats["error_limit_reached"] is True


def test_every_code_is_documented():
    assert {"too_few_examples", "too_long_for_context", "pii_detected"} <= set(WARNING_CODES)
    assert {"schema_violation", "label_set_unfit", "bad_chat_format"} <= set(ERROR_CODES)


# --- label set rules -----------------------------------------------------------------------------


def labelled(pairs):
    return jsonl({"input": f"text {n} {label}", "output": label} for n, label in enumerate(pairs))


def test_label_set_unfit_single_label():
    issue = only_error(run(labelled(["a"] * 30), fmt="jsonl")[0], "label_set_unfit")
    assert "two distinct labels" in issue.message


def test_label_set_unfit_more_labels_than_half_the_rows():
    labels = [f"l{n}" for n in range(12)] * 2 + ["extra"] * 0
    report, _ = run(labelled(labels[:20] + [f"x{n}" for n in range(4)]), fmt="jsonl")
    issue = only_error(report, "label_set_unfit")
    assert "more than half" in issue.message
    assert "Is “output” the column that holds the labels?" in issue.message  # the likely mistake, named


def test_small_label_sets_are_fine():
    report, _ = run(labelled(["yes", "no", "yes"]), fmt="jsonl")
    assert report.ok
    assert report.labels == ["no", "yes"]


# --- warnings ------------------------------------------------------------------------------------


def test_warnings_few_examples_few_per_label_and_imbalance():
    labels = ["common"] * 120 + ["rare"] * 3 + ["mid"] * 40
    report, _ = run(labelled(labels), fmt="jsonl")
    assert report.ok
    codes = report.warning_codes()
    assert "too_few_examples" not in codes
    few = next(w for w in report.warnings if w.code == "too_few_per_label")
    assert few.details["labels"] == {"rare": 3}
    imbalance = next(w for w in report.warnings if w.code == "class_imbalance")
    assert imbalance.details["ratio"] == 40.0
    assert imbalance.details["largest"] == "common" and imbalance.details["smallest"] == "rare"
    report, _ = run(labelled(["a", "b"] * 10), fmt="jsonl")
    assert "too_few_examples" in report.warning_codes()


def test_duplicates_and_conflicts():
    rows = [
        {"input": "Where is my parcel?", "output": "delivery"},
        {"input": "reset password", "output": "account"},
        {"input": "Where is my parcel?", "output": "delivery"},  # exact duplicate of line 1
        {"input": "  where IS my   parcel? ", "output": "billing"},  # folded duplicate input, new label
    ]
    report, _ = run(jsonl(rows), fmt="jsonl")
    assert report.ok
    dup = next(w for w in report.warnings if w.code == "exact_duplicates")
    assert dup.details == {"count": 1, "sample_lines": [[1, 3]]}
    conflict = next(w for w in report.warnings if w.code == "conflicting_labels")
    assert conflict.details["count"] == 1
    assert conflict.details["sample_lines"] == [[1, 3, 4]]
    assert report.stats["duplicates"] == 1 and report.stats["conflicts"] == 1


def test_too_long_for_context_uses_the_token_counter():
    def words(texts):
        return [len(text.split()) for text in texts]

    rows = [{"input": "one two three", "output": "a"}, {"input": "w " * 50, "output": "b c"}]
    report, _ = run(jsonl(rows), fmt="jsonl", task_type="generation", token_counter=words, context_length=10)
    warning = next(w for w in report.warnings if w.code == "too_long_for_context")
    assert warning.details["count"] == 1 and warning.details["sample_lines"] == [2]
    assert report.stats["length_unit"] == "tokens"
    assert report.stats["input_length"]["max"] == 50
    assert report.stats["total_length"]["max"] == 52


def test_pii_is_reported_with_source_lines():
    rows = [{"input": "hello", "output": "a"}, {"input": "mail me: jane@corp.com", "output": "b"}]
    report, _ = run(jsonl(rows), fmt="jsonl")
    assert report.ok
    (finding,) = report.pii_findings
    assert (finding.row, finding.line, finding.field, finding.type) == (2, 2, "input", "email")
    assert "jane@corp.com" not in finding.excerpt_masked
    assert report.stats["pii_counts"] == {"email": 1}
    assert "pii_detected" in report.warning_codes()


# --- formats -------------------------------------------------------------------------------------


def test_detect_format():
    assert detect_format(b'{"input": "a", "output": "b"}\n', "data.txt") == Format.JSONL
    assert detect_format(b'{"messages": [{"role": "user"}]}\n', "data.jsonl") == Format.CHAT_JSONL
    assert detect_format(b'\xef\xbb\xbf{"messages": [', "x.jsonl") == Format.CHAT_JSONL  # cut head
    assert detect_format(b"text,label\nhi,greet\n", "upload.csv") == Format.CSV
    assert detect_format(b"text\tlabel\nhi\tgreet\n", "upload.tsv") == Format.TSV
    assert detect_format(b"text\tlabel\nhi, there\tgreet\n", "upload") == Format.TSV
    assert detect_format(b"", "upload.csv") == Format.CSV


def test_read_header_and_preview():
    head = (FIXTURES / "quoted_newlines.csv").read_bytes()
    assert read_header(head, "csv") == ["question", "intent"]
    preview = preview_rows(head, Format.CSV, limit=5)
    assert preview[0] == {"question": "where is\nmy parcel", "intent": "delivery"}
    assert len(preview) == 2  # the malformed record is skipped
    head = (FIXTURES / "bom_crlf.jsonl").read_bytes()
    assert read_header(head, "jsonl") == ["input", "output"]
    assert preview_rows(head, "jsonl", limit=1) == [{"input": "where is my parcel", "output": "delivery"}]
    assert read_header((FIXTURES / "chat.jsonl").read_bytes(), "chat_jsonl") == ["messages"]
    assert read_header((FIXTURES / "bom.tsv").read_bytes(), "tsv") == ["utterance", "intent"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["text", "label"], ("text", "label")),
        (["id", "utterance", "intent"], ("utterance", "intent")),
        (["Question", "Answer"], ("Question", "Answer")),
        (["prompt", "response"], ("prompt", "response")),
        (["input_text", "gold_label"], ("input_text", "gold_label")),
        (["input", "target"], ("input", "target")),
    ],
)
def test_suggest_column_mapping_by_name(header, expected):
    mapping = suggest_column_mapping(header, [])
    assert (mapping.input_column, mapping.output_column) == expected


def test_suggest_column_mapping_from_values():
    header = ["id", "body", "kind"]
    rows = [
        {"id": "1", "body": "my parcel has not arrived yet", "kind": "delivery"},
        {"id": "2", "body": "please reset my password", "kind": "account"},
        {"id": "3", "body": "the parcel came broken", "kind": "delivery"},
    ]
    assert suggest_column_mapping(header, rows) == ColumnMapping("body", "kind")
    as_lists = [[row["id"], row["body"], row["kind"]] for row in rows]
    assert suggest_column_mapping(header, as_lists) == ColumnMapping("body", "kind")


def test_csv_with_quoted_newlines_keeps_them_and_counts_lines():
    report, written = run("quoted_newlines.csv")
    assert rows_of(written) == [
        {"input": "where is\nmy parcel", "output": "delivery"},
        {"input": "reset, please\n\nmy password", "output": "account"},
    ]
    assert report.stats["column_mapping"] == {"input_column": "question", "output_column": "intent"}


def test_tsv_with_bom():
    report, written = run("bom.tsv")
    assert report.ok, report.errors
    assert rows_of(written)[0] == {"input": "where is my parcel", "output": "delivery"}
    assert report.stats["format"] == "tsv"


def test_jsonl_with_bom_and_crlf():
    report, written = run("bom_crlf.jsonl")
    assert report.ok
    assert report.row_count == 2
    assert rows_of(written)[1] == {"input": "reset my password", "output": "account"}


def test_jsonl_with_other_keys_uses_the_mapping():
    data = jsonl([{"text": "hi there", "label": "greet"}, {"text": "bye", "label": "farewell"}])
    report, written = run(data, fmt="jsonl")
    assert report.ok
    assert rows_of(written)[0] == {"input": "hi there", "output": "greet"}
    report, _ = run(data, fmt="jsonl", column_mapping={"input_column": "text", "output_column": "intent"})
    issue = only_error(report, "missing_field")
    assert (issue.line, issue.field) == (1, "intent")


def test_chat_rows_keep_system_and_history():
    report, written = run("chat.jsonl")
    assert report.ok
    assert rows_of(written) == [
        {"input": "my parcel is late", "output": "delivery", "system": "You route support tickets."},
        {
            "input": "I forgot my password",
            "output": "account",
            "history": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "Hi! How can I help?"},
            ],
        },
    ]
    assert report.stats["rows_with_system"] == 1 and report.stats["rows_with_history"] == 1


def test_extraction_outputs_are_canonical_whether_object_or_string():
    rows = [
        {"input": "a", "output": {"b": 1, "a": [1, 2], "name": "Zoë"}},
        {"input": "a2", "output": '{ "name": "Zoë", "a": [1,2], "b": 1 }'},
    ]
    report, written = run(jsonl(rows), fmt="jsonl", task_type="extraction")
    assert report.ok
    outputs = [row["output"] for row in rows_of(written)]
    assert outputs == ['{"a":[1,2],"b":1,"name":"Zoë"}'] * 2


def test_classification_labels_are_stripped_and_integers_accepted():
    rows = [{"input": "a", "output": " positive "}, {"input": "b", "output": 0}]
    _, written = run(jsonl(rows), fmt="jsonl")
    assert [row["output"] for row in rows_of(written)] == ["positive", "0"]


# --- streaming, checksum, stats ------------------------------------------------------------------


def test_streams_across_tiny_chunks_with_multibyte_characters(monkeypatch):
    monkeypatch.setattr(ingest_readers, "READ_CHUNK", 3)
    rows = [{"input": f"naïve café ☕ {n}", "output": "x" if n % 2 else "y"} for n in range(10)]
    data = b"\xef\xbb\xbf" + jsonl(rows)
    report, written = run(data, fmt="jsonl")
    assert report.ok
    assert rows_of(written)[3] == {"input": "naïve café ☕ 3", "output": "x"}
    assert report.row_count == 10


def test_sha256_is_the_content_address_of_the_written_rows():
    report, written = run("bom_crlf.jsonl")
    assert report.sha256 == hashlib.sha256(written).hexdigest()
    again, _ = run("bom_crlf.jsonl")
    assert again.sha256 == report.sha256


def test_stats_in_characters_with_histogram():
    rows = [{"input": "x" * n, "output": "ab"[n % 2]} for n in range(1, 101)]
    report, _ = run(jsonl(rows), fmt="jsonl")
    stats = report.stats
    assert stats["length_unit"] == "characters"
    lengths = stats["input_length"]
    assert (lengths["min"], lengths["max"], lengths["p50"], lengths["p95"]) == (1, 100, 50, 95)
    assert lengths["mean"] == 50.5
    histogram = lengths["histogram"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert sum(histogram["counts"]) == 100
    assert stats["label_distribution"] == {"a": 50, "b": 50}
    assert stats["row_count"] == 100
    json.dumps(stats)
