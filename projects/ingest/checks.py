"""The rules an upload must meet: each field of a row (`FieldChecks`) and the file as a whole
(`dataset_checks`). Readers call the field checks as they parse; the pass runs the file checks at the end.
"""

from __future__ import annotations

from typing import Any

from .issues import IssueLog
from .jsonstrict import StrictJSONError, canonical_json, loads_strict
from .schema import SchemaError, SchemaValidator
from .stats import Tally

SAMPLE = 5
# Warning thresholds (documented in the report messages and in README of the package).
MIN_EXAMPLES = 100
MIN_PER_LABEL = 10
MAX_IMBALANCE = 10.0
# label_set_unfit thresholds
MAX_TRACKED_LABELS = 10_000
UNFIT_MIN_ROWS_FOR_RATIO = 20
UNFIT_MAX_LABEL_SHARE = 0.5
UNFIT_MEDIAN_LABEL_CHARS = 100


class FieldChecks:
    """Turn a row's raw input and output values into text, or report why they cannot be used."""

    def __init__(self, *, task_type: str, output_schema: dict | None, issues: IssueLog) -> None:
        self.task_type = task_type
        self.issues = issues
        self.empty_after_strip = 0
        self.validator: SchemaValidator | None = None
        if output_schema is not None and task_type == "extraction":
            try:
                self.validator = SchemaValidator(output_schema)
            except SchemaError as exc:
                issues.error("invalid_schema", str(exc), None, "output_schema")

    def text_value(self, value: Any, line: int, field: str) -> str | None:
        error = self.issues.error
        if value is None:
            error("empty_field", f"{field!r} is null.", line, field)
            return None
        if type(value) is not str:
            kind = type(value).__name__
            error("wrong_type", f"{field!r} must be text, got {kind}.", line, field, got=kind)
            return None
        return None if self._nul_or_empty(value, line, field) else value

    def _nul_or_empty(self, value: str, line: int, field: str) -> bool:
        """Report a text value holding a NUL character, or only whitespace; True when it did either."""
        if "\x00" in value:
            self.issues.error("nul_character", f"{field!r} contains a NUL character.", line, field)
            return True
        if not value.strip():
            self.empty_after_strip += 1
            self.issues.error("empty_field", f"{field!r} is empty.", line, field)
            return True
        return False

    def output_value(self, value: Any, line: int, field: str) -> str | None:
        task = self.task_type
        if task == "extraction":
            return self.extraction_output(value, line, field)
        if task == "classification" and type(value) is int:
            return str(value)
        text = self.text_value(value, line, field)
        if text is None:
            return None
        return text.strip() if task == "classification" else text

    def extraction_output(self, value: Any, line: int, field: str) -> str | None:
        error = self.issues.error
        if isinstance(value, str):
            if self._nul_or_empty(value, line, field):
                return None
            try:
                value = loads_strict(value, path=field)
            except StrictJSONError as exc:
                error(exc.code, exc.message, line, exc.path, **exc.details)
                return None
            except ValueError as exc:
                error(
                    "output_not_json_object",
                    f"{field!r} must be a JSON object or a string holding one: {exc}.",
                    line,
                    field,
                )
                return None
        if value is None:
            error("empty_field", f"{field!r} is null.", line, field)
            return None
        if not isinstance(value, dict):
            kind = "array" if isinstance(value, list) else type(value).__name__
            error(
                "output_not_json_object",
                f"{field!r} must be a JSON object, got {kind}.",
                line,
                field,
                got=kind,
            )
            return None
        if self.validator is not None:
            try:
                violations = self.validator.validate(value, path=field)
            except SchemaError as exc:
                error("invalid_schema", str(exc), line, "output_schema")
                return None
            for violation in violations:
                error("schema_violation", violation.message, line, violation.path, keyword=violation.keyword)
            if violations:
                return None
        text = canonical_json(value)
        if "\\u0000" in text:
            error("nul_character", f"{field!r} contains a NUL character.", line, field)
            return None
        return text


def dataset_checks(
    tally: Tally, issues: IssueLog, *, task_type: str, context_length: int | None, output_field: str
) -> None:
    """The whole-file rules, once every row is read. Also fills `tally.duplicates` and `tally.conflicts`
    for the statistics, and the report's label set (classification)."""
    n = tally.row_count
    if n == 0:
        if not issues.report.errors:
            issues.error("empty_file", "The file holds no data rows.", None, None)
        return
    if task_type == "classification":
        label_checks(tally, issues, output_field=output_field)
    if n < MIN_EXAMPLES:
        issues.warn(
            "too_few_examples",
            f"{n} rows; at least {MIN_EXAMPLES} are recommended for fine-tuning.",
            rows=n,
            recommended=MIN_EXAMPLES,
        )
    tally.duplicates, dup_sample = tally.hashes.duplicates(SAMPLE)
    if tally.duplicates:
        issues.warn(
            "exact_duplicates",
            f"{tally.duplicates} rows repeat an earlier row exactly.",
            count=tally.duplicates,
            sample_lines=dup_sample,
        )
    tally.conflicts, conflict_sample = tally.hashes.conflicts(SAMPLE)
    if tally.conflicts and task_type != "generation":
        issues.warn(
            "conflicting_labels",
            f"{tally.conflicts} inputs appear with different outputs.",
            count=tally.conflicts,
            sample_lines=conflict_sample,
        )
    if tally.too_long_count:
        issues.warn(
            "too_long_for_context",
            f"{tally.too_long_count} rows exceed the context length of {context_length} tokens.",
            count=tally.too_long_count,
            context_length=context_length,
            sample_lines=tally.too_long_sample,
        )
    if tally.pii_counts:
        issues.warn(
            "pii_detected",
            f"Possible PII in {tally.pii_rows} rows: "
            + ", ".join(f"{count} {kind}" for kind, count in sorted(tally.pii_counts.items())),
            counts=dict(tally.pii_counts),
            rows=tally.pii_rows,
        )


def label_checks(tally: Tally, issues: IssueLog, *, output_field: str) -> None:
    """Classification: is this a usable label set, and how balanced is it?"""
    labels = tally.labels
    issues.report.labels = sorted(labels)
    n = tally.row_count
    distinct = len(labels)
    reason = _unfit_reason(tally)
    if reason:
        issues.error(
            "label_set_unfit",
            f"The labels do not form a usable label set: {reason}. Is “{output_field}” the column that holds "
            "the labels? Map the output to the column with a few repeated labels (an id or a free-text "
            "column is not one).",
            None,
            output_field,
            distinct_labels=distinct,
            rows=n,
        )
        return
    rare = {label: count for label, count in labels.items() if count < MIN_PER_LABEL}
    if rare:
        listed = dict(sorted(rare.items(), key=lambda item: (item[1], item[0]))[:50])
        issues.warn(
            "too_few_per_label",
            f"{len(rare)} labels have fewer than {MIN_PER_LABEL} examples.",
            labels=listed,
            minimum=MIN_PER_LABEL,
        )
    most, least = max(labels.values()), min(labels.values())
    if most / least > MAX_IMBALANCE:
        issues.warn(
            "class_imbalance",
            f"The largest label has {most} examples, the smallest {least} (ratio {most / least:.1f}).",
            largest=labels.most_common(1)[0][0],
            smallest=min(labels, key=labels.__getitem__),
            ratio=round(most / least, 2),
        )


def _unfit_reason(tally: Tally) -> str | None:
    labels, n = tally.labels, tally.row_count
    distinct = len(labels)
    if tally.labels_overflow:
        return f"more than {MAX_TRACKED_LABELS} distinct labels"
    if distinct < 2:
        return "a classifier needs at least two distinct labels"
    if n >= 3 and distinct == n:
        return "every row has a different label"
    if n >= UNFIT_MIN_ROWS_FOR_RATIO and distinct > n * UNFIT_MAX_LABEL_SHARE:
        return f"{distinct} distinct labels for {n} rows (more than half the rows)"
    lengths = sorted(len(label) for label in labels.elements())
    median = lengths[len(lengths) // 2]
    if median > UNFIT_MEDIAN_LABEL_CHARS:
        return f"labels look like free text (median {median} characters); is this generation?"
    return None
