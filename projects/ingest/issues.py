"""Issues (errors and warnings), the ingestion report, and the catalogue of issue codes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Errors block a dataset version; warnings are shown to the user and recorded.
ERROR_CODES: dict[str, str] = {
    "empty_file": "The file holds no data rows.",
    "not_utf8": "A line is not valid UTF-8 (or a JSON string holds a lone surrogate).",
    "line_too_long": "A physical line exceeds the maximum line size.",
    "malformed_json": "A JSONL line is not valid JSON.",
    "malformed_csv": "A CSV/TSV record cannot be parsed or has the wrong number of fields.",
    "not_an_object": "A JSONL line is valid JSON but not an object.",
    "missing_field": "A required field (or mapped column) is absent from a row.",
    "empty_field": "A required field is empty or only whitespace.",
    "wrong_type": "A field has the wrong JSON type (e.g. a number where text is expected).",
    "non_finite_number": "NaN, Infinity or -Infinity (or an overflowing number) appears in a row.",
    "nul_character": "A NUL character (raw or \\u0000) appears in a row.",
    "duplicate_key": "A JSON object repeats a key, or a CSV header repeats a column name.",
    "nesting_too_deep": "JSON nesting exceeds the depth limit.",
    "wrong_column": "The column mapping names a column that is not in the header.",
    "bad_chat_format": "A chat row breaks the messages format (roles, order, final assistant turn).",
    "output_not_json_object": "Extraction: the output is neither a JSON object nor a string holding one.",
    "schema_violation": "Extraction: the output does not satisfy the output schema.",
    "invalid_schema": "Extraction: the output schema itself is unusable.",
    "label_set_unfit": "Classification: the labels do not form a usable label set.",
}

WARNING_CODES: dict[str, str] = {
    "too_few_examples": "Fewer rows than recommended for fine-tuning.",
    "too_few_per_label": "Some labels have fewer examples than recommended.",
    "class_imbalance": "The most frequent label outnumbers the rarest by a large factor.",
    "exact_duplicates": "Some rows are exact copies of earlier rows.",
    "conflicting_labels": "The same input (case/whitespace-folded) appears with different outputs.",
    "too_long_for_context": "Prompt + answer exceed the model's context length.",
    "pii_detected": "Personal, payment or confidential data was found (see pii_findings).",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One error or warning; `line` is the 1-based physical line (or a CSV record's first line)."""

    code: str
    message: str
    line: int | None = None
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "field": self.field,
            "details": self.details,
        }


@dataclass(slots=True)
class IngestReport:
    """Outcome of one ingestion pass; `ok` is False whenever there is at least one error."""

    errors: list[Issue] = dataclasses.field(default_factory=list)
    warnings: list[Issue] = dataclasses.field(default_factory=list)
    row_count: int = 0
    sha256: str = ""
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)
    pii_findings: list[Any] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_codes(self) -> list[str]:
        return [issue.code for issue in self.errors]

    def warning_codes(self) -> list[str]:
        return [issue.code for issue in self.warnings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
            "row_count": self.row_count,
            "sha256": self.sha256,
            "stats": self.stats,
            "pii_findings": [finding.as_dict() for finding in self.pii_findings],
            "labels": list(self.labels),
        }


class StopIngest(Exception):
    """Raised when the error limit is reached: the pass stops reading."""


class IssueLog:
    """Records a pass's errors and warnings in its report; the `max_errors`-th error stops the pass."""

    def __init__(self, report: IngestReport, max_errors: int) -> None:
        self.report = report
        self.max_errors = max(1, max_errors)
        self.limit_reached = False

    def error(self, code: str, message: str, line: int | None, field: str | None, **details: Any) -> None:
        self.report.errors.append(Issue(code, message, line, field, details))
        if len(self.report.errors) >= self.max_errors:
            self.limit_reached = True
            raise StopIngest

    def warn(self, code: str, message: str, **details: Any) -> None:
        self.report.warnings.append(Issue(code, message, None, None, details))
