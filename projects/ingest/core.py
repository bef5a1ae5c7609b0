"""The single streaming pass: read, decode, parse, validate, normalise, write, measure, scan.

Normalised rows are written to `dest` as compact UTF-8 JSON lines, keys in this order:

    {"input": str, "output": str}                                   JSONL, CSV, TSV
    {"input": str, "output": str, "system": str, "history": [...]}   chat JSONL

("system" and "history" appear only when present.)

Chat rows: the optional system message (first message only) is kept as "system"; the final
assistant message is the output; the user message right before it is the input; earlier turns are
kept, in order, as "history": [{"role": "user"|"assistant", "content": str}, ...]. Turns after the
system message must alternate user/assistant, starting with user and ending with assistant.

Classification labels are stripped of surrounding whitespace (an integer label becomes its decimal
text); extraction outputs become canonical JSON text (sorted keys, compact); inputs and generation
outputs are kept verbatim. Error fields name the key or column as it appears in the source file.

`dest` is written as rows are accepted, so it holds a partial file when the report has errors: the
caller discards it unless `report.ok`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Literal

from . import pii
from .checks import MAX_TRACKED_LABELS, SAMPLE, FieldChecks, dataset_checks
from .formats import ColumnMapping, Format
from .issues import IngestReport, IssueLog, StopIngest
from .readers import physical_lines, reader_for
from .stats import Tally

TaskType = Literal["classification", "extraction", "generation"]
TokenCounter = Callable[[list[str]], list[int]]

MAX_LINE_BYTES = 8 << 20
TOKEN_BATCH = 512
WRITE_BATCH = 512
MAX_PII_FINDINGS = 1000

_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Ingestion:
    """One pass: a reader parses (readers.py), field and file checks judge (checks.py), and every
    accepted row is written, hashed, measured in tokens and scanned for PII here."""

    def __init__(
        self,
        *,
        fmt: Format,
        dest: BinaryIO,
        task_type: str,
        column_mapping: ColumnMapping | None,
        output_schema: dict | None,
        token_counter: TokenCounter | None,
        context_length: int | None,
        max_errors: int,
        scan_pii: bool,
        max_line_bytes: int,
    ) -> None:
        if task_type not in ("classification", "extraction", "generation"):
            raise ValueError(f"Unknown task type {task_type!r}.")
        self.fmt = fmt
        self.dest = dest
        self.task_type = task_type
        self.mapping = column_mapping
        self.token_counter = token_counter
        self.context_length = context_length
        self.scan_pii = scan_pii
        self.max_line_bytes = max_line_bytes
        self.report = IngestReport()
        self.issues = IssueLog(self.report, max_errors)
        self.fields = FieldChecks(task_type=task_type, output_schema=output_schema, issues=self.issues)
        self.tally = Tally()
        self.reader = None
        self.digest = hashlib.sha256()
        self.write_buffer: list[str] = []
        self.token_batch: list[tuple[int, str, str]] = []
        self.token_pool: ThreadPoolExecutor | None = None
        self.token_futures: deque[tuple[list[tuple[int, str, str]], Future]] = deque()
        # classification labels repeat: count each label's tokens once
        self.output_token_cache: dict[str, int] | None = {} if task_type == "classification" else None

    # --- accepted rows --------------------------------------------------------------------------

    def accept(self, line: int, inp: str, out: str, extra: dict[str, Any] | None = None) -> None:
        """A row every check passed: write it, then count, measure and scan it."""
        row: dict[str, Any] = {"input": inp, "output": out, **(extra or {})}
        if not self.write(row, line):
            return
        if extra:
            key_text = inp + "\x00" + _ROW_ENCODER.encode(extra)
            prompt = "\n".join(
                [extra.get("system", "")] + [turn["content"] for turn in extra.get("history", ())] + [inp]
            )
        else:
            key_text = prompt = inp
        self.tally.hashes.add(hash(key_text), hash(" ".join(inp.casefold().split())), hash(out), line)
        if self.task_type == "classification":
            self.count_label(out)
        self.measure(line, prompt, out)
        if self.scan_pii:
            self.scan(row, line)

    def write(self, row: dict[str, Any], line: int) -> bool:
        """Buffer the row as a compact JSON line; False (and an error) when it cannot be UTF-8."""
        encoded = _ROW_ENCODER.encode(row)
        try:
            encoded.encode("utf-8")
        except UnicodeEncodeError:
            field = next((k for k, v in row.items() if isinstance(v, str) and _has_surrogate(v)), None)
            self.issues.error(
                "not_utf8", "A string holds a lone UTF-16 surrogate (\\ud800-\\udfff).", line, field
            )
            return False
        self.write_buffer.append(encoded)
        self.tally.row_count += 1
        if len(self.write_buffer) >= WRITE_BATCH:
            self.flush_rows()
        return True

    def count_label(self, label: str) -> None:
        labels = self.tally.labels
        if label in labels or len(labels) < MAX_TRACKED_LABELS:
            labels[label] += 1
        else:
            self.tally.labels_overflow = True

    def measure(self, line: int, prompt: str, out: str) -> None:
        """Lengths in characters, or queued for the token counter when there is one."""
        if self.token_counter is None:
            n_in, n_out = len(prompt), len(out)
            self.tally.input_lengths.add(n_in)
            self.tally.output_lengths.add(n_out)
            self.tally.total_lengths.add(n_in + n_out)
            return
        self.token_batch.append((line, prompt, out))
        if len(self.token_batch) >= TOKEN_BATCH:
            self.flush_tokens()

    def scan(self, row: dict[str, Any], line: int) -> None:
        found = pii.scan_fields(pii.iter_text_fields(row), self.tally.row_count, line)
        if not found:
            return
        self.tally.pii_rows += 1
        for finding in found:
            self.tally.pii_counts[finding.type] += 1
            if len(self.report.pii_findings) < MAX_PII_FINDINGS:
                self.report.pii_findings.append(finding)

    def flush_rows(self) -> None:
        if self.write_buffer:
            chunk = ("\n".join(self.write_buffer) + "\n").encode("utf-8")
            self.write_buffer.clear()
            self.digest.update(chunk)
            self.dest.write(chunk)

    def flush_tokens(self) -> None:
        """Hand the batch to the counting thread; the tokenizer (native code that releases the GIL)
        then runs while this thread goes on parsing. At most two batches are in flight."""
        batch = self.token_batch
        if not batch:
            return
        self.token_batch = []
        if self.token_pool is None:
            self.token_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-tokens")
        self.token_futures.append((batch, self.token_pool.submit(self.count_batch, batch)))
        while len(self.token_futures) > 2:
            self.collect_tokens()

    def count_batch(self, batch: list[tuple[int, str, str]]) -> tuple[list[int], list[int]]:
        inputs = self.token_counter([prompt for _, prompt, _ in batch])
        cache = self.output_token_cache
        if cache is None:
            return inputs, self.token_counter([out for _, _, out in batch])
        missing = list({out for _, _, out in batch if out not in cache})
        if missing:
            cache.update(zip(missing, self.token_counter(missing), strict=True))
        return inputs, [cache[out] for _, _, out in batch]

    def collect_tokens(self) -> None:
        batch, future = self.token_futures.popleft()
        inputs, outputs = future.result()
        self.tally.input_lengths.add_many(inputs)
        self.tally.output_lengths.add_many(outputs)
        limit = self.context_length
        for (line, _, _), n_in, n_out in zip(batch, inputs, outputs, strict=True):
            total = n_in + n_out
            self.tally.total_lengths.add(total)
            if limit is not None and total > limit:
                self.tally.too_long_count += 1
                if len(self.tally.too_long_sample) < SAMPLE:
                    self.tally.too_long_sample.append(line)

    def finish_tokens(self) -> None:
        self.flush_tokens()
        while self.token_futures:
            self.collect_tokens()

    # --- the pass -------------------------------------------------------------------------------

    def run(self, stream: BinaryIO) -> IngestReport:
        self.reader = reader_for(
            self.fmt,
            physical_lines(stream, self.max_line_bytes),
            mapping=self.mapping,
            fields=self.fields,
            issues=self.issues,
            accept=self.accept,
            max_line_bytes=self.max_line_bytes,
        )
        try:
            if not self.report.errors:  # an unusable schema stops before reading
                with contextlib.suppress(StopIngest):
                    self.reader.run()
            self.mapping = self.reader.mapping
            return self.finish()
        finally:
            if self.token_pool is not None:
                self.token_pool.shutdown(wait=False, cancel_futures=True)

    def finish(self) -> IngestReport:
        self.flush_rows()
        if self.token_counter is not None:
            self.finish_tokens()
        report = self.report
        report.row_count = self.tally.row_count
        report.sha256 = self.digest.hexdigest()
        with contextlib.suppress(StopIngest):
            dataset_checks(
                self.tally,
                self.issues,
                task_type=self.task_type,
                context_length=self.context_length,
                output_field=self.mapping.output_column if self.mapping else "output",
            )
        report.stats = self.build_stats()
        return report

    def build_stats(self) -> dict[str, Any]:
        tally, reader = self.tally, self.reader
        stats: dict[str, Any] = {
            "row_count": tally.row_count,
            "format": str(self.fmt),
            "task_type": self.task_type,
            "column_mapping": self.mapping.as_dict() if self.mapping else None,
            "physical_lines": reader.physical_lines,
            "blank_lines": reader.blank_lines,
            "empty_after_strip": self.fields.empty_after_strip,
            "length_unit": "tokens" if self.token_counter is not None else "characters",
            "input_length": tally.input_lengths.summary(),
            "output_length": tally.output_lengths.summary(),
            "total_length": tally.total_lengths.summary(),
            "duplicates": tally.duplicates,
            "conflicts": tally.conflicts,
            "too_long_for_context": tally.too_long_count if self.token_counter is not None else None,
            "context_length": self.context_length,
            "pii_counts": dict(tally.pii_counts),
            "pii_rows": tally.pii_rows,
            "pii_findings_truncated": sum(tally.pii_counts.values()) > len(self.report.pii_findings),
            "error_limit_reached": self.issues.limit_reached,
        }
        if self.task_type == "classification":
            stats["label_count"] = len(tally.labels)
            stats["label_distribution"] = dict(tally.labels.most_common())
        if self.fmt == Format.CHAT_JSONL:
            stats["rows_with_system"] = reader.chat_with_system
            stats["rows_with_history"] = reader.chat_with_history
        return stats


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def ingest(
    stream: BinaryIO,
    *,
    fmt: Format | str,
    dest: BinaryIO,
    task_type: TaskType,
    column_mapping: ColumnMapping | dict | None = None,
    output_schema: dict | None = None,
    token_counter: TokenCounter | None = None,
    context_length: int | None = None,
    max_errors: int = 50,
    scan_pii: bool = True,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> IngestReport:
    """Validate and normalise an upload in one streaming pass, writing normalised rows to `dest`.

    `stream` is any binary file-like with `read(n)`. `column_mapping` picks the input/output columns
    (CSV/TSV) or keys (JSONL); without it, "input"/"output" are used when present, else the mapping
    is suggested from the header and first rows. `token_counter` maps a batch of texts to their token
    counts; with it lengths are in tokens and `too_long_for_context` is checked against
    `context_length`. Ingestion stops after `max_errors` errors. Returns an `IngestReport`.
    """
    if isinstance(column_mapping, dict):
        column_mapping = ColumnMapping.from_dict(column_mapping)
    ingestion = _Ingestion(
        fmt=Format(fmt),
        dest=dest,
        task_type=task_type,
        column_mapping=column_mapping,
        output_schema=output_schema,
        token_counter=token_counter,
        context_length=context_length,
        max_errors=max_errors,
        scan_pii=scan_pii,
        max_line_bytes=max_line_bytes,
    )
    return ingestion.run(stream)
