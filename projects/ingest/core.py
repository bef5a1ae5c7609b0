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
import csv
import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Literal

from . import pii
from .formats import BOM, ColumnMapping, Format, csv_dialect, suggest_column_mapping
from .issues import IngestReport, Issue
from .jsonstrict import StrictJSONError, canonical_json, loads_strict
from .schema import SchemaError, SchemaValidator
from .stats import LengthStats, RowHashes

TaskType = Literal["classification", "extraction", "generation"]
TokenCounter = Callable[[list[str]], list[int]]

READ_CHUNK = 1 << 20
MAX_LINE_BYTES = 8 << 20
TOKEN_BATCH = 512
WRITE_BATCH = 512
MAX_PII_FINDINGS = 1000
MAX_TRACKED_LABELS = 10_000
SAMPLE = 5

# Warning thresholds (documented in the report messages and in README of the package).
MIN_EXAMPLES = 100
MIN_PER_LABEL = 10
MAX_IMBALANCE = 10.0
# label_set_unfit thresholds
UNFIT_MIN_ROWS_FOR_RATIO = 20
UNFIT_MAX_LABEL_SHARE = 0.5
UNFIT_MEDIAN_LABEL_CHARS = 100

CHAT_ROLES = ("system", "user", "assistant")

_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _StopIngest(Exception):
    pass


def _physical_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, bytes without the newline); None for a line over `max_line_bytes`."""
    pending = b""
    skipping = False
    lineno = 0
    first = True
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        if first:
            first = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
        parts = chunk.split(b"\n")
        parts[0] = pending + parts[0]
        pending = parts.pop()
        for part in parts:
            lineno += 1
            if skipping:
                skipping = False
                yield lineno, None
            elif len(part) > max_line_bytes:
                yield lineno, None
            else:
                yield lineno, part
        if len(pending) > max_line_bytes:
            skipping = True
            pending = b""
    if pending or skipping:
        yield lineno + 1, None if skipping else pending


class _Ingestion:
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
        self.max_errors = max(1, max_errors)
        self.scan_pii = scan_pii
        self.max_line_bytes = max_line_bytes
        self.report = IngestReport()
        self.validator: SchemaValidator | None = None
        if output_schema is not None and task_type == "extraction":
            try:
                self.validator = SchemaValidator(output_schema)
            except SchemaError as exc:
                self.error("invalid_schema", str(exc), None, "output_schema")

        self.digest = hashlib.sha256()
        self.write_buffer: list[str] = []
        self.row_count = 0
        self.physical_lines = 0
        self.blank_lines = 0
        self.empty_after_strip = 0
        self.labels: Counter[str] = Counter()
        self.labels_overflow = False
        self.hashes = RowHashes()
        self.input_lengths = LengthStats()
        self.output_lengths = LengthStats()
        self.total_lengths = LengthStats()
        self.token_batch: list[tuple[int, str, str]] = []
        self.token_pool: ThreadPoolExecutor | None = None
        self.token_futures: deque[tuple[list[tuple[int, str, str]], Future]] = deque()
        # classification labels repeat: count each label's tokens once
        self.output_token_cache: dict[str, int] | None = {} if task_type == "classification" else None
        self.too_long_count = 0
        self.too_long_sample: list[int] = []
        self.pii_counts: Counter[str] = Counter()
        self.pii_rows = 0
        self.chat_with_system = 0
        self.chat_with_history = 0
        self.error_limit_reached = False
        self.last_bad_line = 0

    # --- issues ---------------------------------------------------------------------------------

    def error(self, code: str, message: str, line: int | None, field: str | None, **details: Any) -> None:
        self.report.errors.append(Issue(code, message, line, field, details))
        if len(self.report.errors) >= self.max_errors:
            self.error_limit_reached = True
            raise _StopIngest

    def warn(self, code: str, message: str, **details: Any) -> None:
        self.report.warnings.append(Issue(code, message, None, None, details))

    # --- field checks ---------------------------------------------------------------------------

    def text_value(self, value: Any, line: int, field: str) -> str | None:
        if value is None:
            self.error("empty_field", f"{field!r} is null.", line, field)
            return None
        if type(value) is not str:
            kind = type(value).__name__
            self.error("wrong_type", f"{field!r} must be text, got {kind}.", line, field, got=kind)
            return None
        if "\x00" in value:
            self.error("nul_character", f"{field!r} contains a NUL character.", line, field)
            return None
        if not value.strip():
            self.empty_after_strip += 1
            self.error("empty_field", f"{field!r} is empty.", line, field)
            return None
        return value

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
        if isinstance(value, str):
            if "\x00" in value:
                self.error("nul_character", f"{field!r} contains a NUL character.", line, field)
                return None
            if not value.strip():
                self.empty_after_strip += 1
                self.error("empty_field", f"{field!r} is empty.", line, field)
                return None
            try:
                value = loads_strict(value, path=field)
            except StrictJSONError as exc:
                self.error(exc.code, exc.message, line, exc.path, **exc.details)
                return None
            except ValueError as exc:
                self.error(
                    "output_not_json_object",
                    f"{field!r} must be a JSON object or a string holding one: {exc}.",
                    line,
                    field,
                )
                return None
        if value is None:
            self.error("empty_field", f"{field!r} is null.", line, field)
            return None
        if not isinstance(value, dict):
            kind = "array" if isinstance(value, list) else type(value).__name__
            self.error(
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
                self.error("invalid_schema", str(exc), line, "output_schema")
                return None
            for violation in violations:
                self.error(
                    "schema_violation", violation.message, line, violation.path, keyword=violation.keyword
                )
            if violations:
                return None
        text = canonical_json(value)
        if "\\u0000" in text:
            self.error("nul_character", f"{field!r} contains a NUL character.", line, field)
            return None
        return text

    # --- accepted rows --------------------------------------------------------------------------

    def accept(self, line: int, inp: str, out: str, extra: dict[str, Any] | None = None) -> None:
        row: dict[str, Any] = {"input": inp, "output": out}
        if extra:
            row.update(extra)
        encoded = _ROW_ENCODER.encode(row)
        try:
            encoded.encode("utf-8")
        except UnicodeEncodeError:
            field = next((k for k, v in row.items() if isinstance(v, str) and _has_surrogate(v)), None)
            self.error("not_utf8", "A string holds a lone UTF-16 surrogate (\\ud800-\\udfff).", line, field)
            return
        self.write_buffer.append(encoded)
        self.row_count += 1
        if len(self.write_buffer) >= WRITE_BATCH:
            self.flush_rows()

        if extra:
            key_text = inp + "\x00" + _ROW_ENCODER.encode(extra)
            prompt = "\n".join(
                [extra.get("system", "")] + [turn["content"] for turn in extra.get("history", ())] + [inp]
            )
        else:
            key_text = prompt = inp
        self.hashes.add(hash(key_text), hash(" ".join(inp.casefold().split())), hash(out), line)

        if self.task_type == "classification":
            if out in self.labels or len(self.labels) < MAX_TRACKED_LABELS:
                self.labels[out] += 1
            else:
                self.labels_overflow = True

        if self.token_counter is None:
            n_in, n_out = len(prompt), len(out)
            self.input_lengths.add(n_in)
            self.output_lengths.add(n_out)
            self.total_lengths.add(n_in + n_out)
        else:
            self.token_batch.append((line, prompt, out))
            if len(self.token_batch) >= TOKEN_BATCH:
                self.flush_tokens()

        if self.scan_pii:
            found = pii.scan_fields(pii.iter_text_fields(row), self.row_count, line)
            if found:
                self.pii_rows += 1
                for finding in found:
                    self.pii_counts[finding.type] += 1
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
        self.input_lengths.add_many(inputs)
        self.output_lengths.add_many(outputs)
        limit = self.context_length
        for (line, _, _), n_in, n_out in zip(batch, inputs, outputs, strict=True):
            total = n_in + n_out
            self.total_lengths.add(total)
            if limit is not None and total > limit:
                self.too_long_count += 1
                if len(self.too_long_sample) < SAMPLE:
                    self.too_long_sample.append(line)

    def finish_tokens(self) -> None:
        self.flush_tokens()
        while self.token_futures:
            self.collect_tokens()

    # --- JSONL ----------------------------------------------------------------------------------

    def decoded_lines(self) -> Iterator[tuple[int, str]]:
        for lineno, raw in self.lines:
            self.physical_lines = lineno
            if raw is None:
                self.error("line_too_long", f"Line longer than {self.max_line_bytes} bytes.", lineno, None)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.error(
                    "not_utf8",
                    f"Line {lineno} is not valid UTF-8 (byte {exc.start}).",
                    lineno,
                    None,
                    byte_offset=exc.start,
                )
                continue
            yield lineno, text

    def run_jsonl(self) -> None:
        chat = self.fmt == Format.CHAT_JSONL
        for lineno, text in self.decoded_lines():
            if not text or text.isspace():
                self.blank_lines += 1
                continue
            if "\x00" in text:
                self.error("nul_character", "The line contains a NUL character.", lineno, None)
                continue
            try:
                obj = loads_strict(text)
            except StrictJSONError as exc:
                self.error(exc.code, exc.message, lineno, exc.path, **exc.details)
                continue
            except ValueError as exc:
                self.error(
                    "malformed_json", f"Invalid JSON: {exc}", lineno, None, column=getattr(exc, "colno", None)
                )
                continue
            if type(obj) is not dict:
                kind = "array" if isinstance(obj, list) else type(obj).__name__
                self.error("not_an_object", f"Each line must be a JSON object, got {kind}.", lineno, None)
                continue
            if chat:
                self.chat_row(obj, lineno)
            else:
                self.object_row(obj, lineno)

    def object_row(self, obj: dict[str, Any], line: int) -> None:
        if self.mapping is None:
            if "input" in obj and "output" in obj:
                self.mapping = ColumnMapping("input", "output")
            else:
                self.mapping = suggest_column_mapping(list(obj), [obj])
        in_key, out_key = self.mapping.input_column, self.mapping.output_column
        ok = True
        if in_key not in obj:
            self.error("missing_field", f"Field {in_key!r} is missing.", line, in_key)
            ok = False
        if out_key not in obj:
            self.error("missing_field", f"Field {out_key!r} is missing.", line, out_key)
            ok = False
        if not ok:
            return
        inp = self.text_value(obj[in_key], line, in_key)
        out = self.output_value(obj[out_key], line, out_key)
        if inp is not None and out is not None:
            self.accept(line, inp, out)

    def chat_row(self, obj: dict[str, Any], line: int) -> None:
        if "messages" not in obj:
            self.error("missing_field", "Field 'messages' is missing.", line, "messages")
            return
        messages = obj["messages"]
        if type(messages) is not list:
            self.error("wrong_type", "'messages' must be a list.", line, "messages")
            return
        if not messages:
            self.error("bad_chat_format", "'messages' is empty.", line, "messages")
            return
        system: str | None = None
        turns: list[tuple[int, str, Any]] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if type(message) is not dict:
                self.error("bad_chat_format", f"{where} must be an object.", line, where)
                return
            role = message.get("role")
            if role not in CHAT_ROLES:
                self.error(
                    "bad_chat_format",
                    f"{where}.role must be one of {', '.join(CHAT_ROLES)}, got {role!r}.",
                    line,
                    f"{where}.role",
                )
                return
            if "content" not in message:
                self.error("missing_field", f"{where}.content is missing.", line, f"{where}.content")
                return
            if role == "system":
                if index != 0:
                    self.error(
                        "bad_chat_format",
                        "A system message may only come first.",
                        line,
                        f"{where}.role",
                    )
                    return
                system = self.text_value(message["content"], line, f"{where}.content")
                if system is None:
                    return
                continue
            turns.append((index, role, message["content"]))
        if not any(role == "assistant" for _, role, _ in turns):
            self.error("bad_chat_format", "The conversation has no assistant message.", line, "messages")
            return
        for position, (index, role, _) in enumerate(turns):
            expected = "user" if position % 2 == 0 else "assistant"
            if role != expected:
                self.error(
                    "bad_chat_format",
                    f"messages[{index}] should be a {expected} message: turns alternate user/assistant, "
                    "starting with user.",
                    line,
                    f"messages[{index}].role",
                )
                return
        if turns[-1][1] != "assistant":
            index = turns[-1][0]
            self.error(
                "bad_chat_format",
                "The conversation must end with an assistant message.",
                line,
                f"messages[{index}].role",
            )
            return
        history: list[dict[str, str]] = []
        for index, role, content in turns[:-2]:
            text = self.text_value(content, line, f"messages[{index}].content")
            if text is None:
                return
            history.append({"role": role, "content": text})
        user_index, _, user_content = turns[-2]
        answer_index, _, answer_content = turns[-1]
        inp = self.text_value(user_content, line, f"messages[{user_index}].content")
        out = self.output_value(answer_content, line, f"messages[{answer_index}].content")
        if inp is None or out is None:
            return
        extra: dict[str, Any] = {}
        if system is not None:
            extra["system"] = system
            self.chat_with_system += 1
        if history:
            extra["history"] = history
            self.chat_with_history += 1
        self.accept(line, inp, out, extra or None)

    # --- CSV / TSV ------------------------------------------------------------------------------

    def csv_text_lines(self) -> Iterator[str]:
        for lineno, raw in self.lines:
            self.physical_lines = lineno
            if raw is None:
                self.error("line_too_long", f"Line longer than {self.max_line_bytes} bytes.", lineno, None)
                yield "\n"
                continue
            try:
                yield raw.decode("utf-8") + "\n"
            except UnicodeDecodeError as exc:
                self.error(
                    "not_utf8",
                    f"Line {lineno} is not valid UTF-8 (byte {exc.start}).",
                    lineno,
                    None,
                    byte_offset=exc.start,
                )
                self.last_bad_line = lineno
                yield raw.decode("utf-8", errors="replace") + "\n"

    def run_csv(self) -> None:
        reader = csv.reader(self.csv_text_lines(), **csv_dialect(self.fmt))
        records = self.csv_records(reader)
        header: list[str] | None = None
        header_line = 0
        for line, record in records:
            if record is not None and any(cell.strip() for cell in record):
                header = [cell.strip() for cell in record]
                header_line = line
                break
        if header is None:
            return
        seen: set[str] = set()
        for name in header:
            if name in seen:
                self.error(
                    "duplicate_key", f"Column {name!r} appears twice in the header.", header_line, name
                )
            seen.add(name)

        buffered: list[tuple[int, list[str] | None]] = []
        if self.mapping is None:
            for item in records:
                buffered.append(item)
                if len(buffered) >= 50:
                    break
            sample = [record for _, record in buffered if record is not None and len(record) == len(header)]
            self.mapping = suggest_column_mapping(header, sample)
        mapping = self.mapping
        bad = [c for c in (mapping.input_column, mapping.output_column) if c not in header]
        for column in bad:
            self.error(
                "wrong_column",
                f"Column {column!r} is not in the header ({', '.join(header)}).",
                header_line,
                column,
                header=header,
            )
        if bad:
            return
        in_index, out_index = header.index(mapping.input_column), header.index(mapping.output_column)
        in_name, out_name = mapping.input_column, mapping.output_column
        width = len(header)

        def rows() -> Iterator[tuple[int, list[str] | None]]:
            yield from buffered
            yield from records

        for line, record in rows():
            if record is None:
                continue
            if len(record) != width:
                if not any(cell.strip() for cell in record):
                    self.blank_lines += 1
                    continue
                self.error(
                    "malformed_csv",
                    f"Expected {width} fields, found {len(record)}.",
                    line,
                    None,
                    expected=width,
                    found=len(record),
                )
                continue
            inp = self.text_value(record[in_index], line, in_name)
            out = self.output_value(record[out_index], line, out_name)
            if inp is not None and out is not None:
                self.accept(line, inp, out)

    def csv_records(self, reader: Any) -> Iterator[tuple[int, list[str] | None]]:
        """(first physical line of the record, fields); None after a parse error (already reported)."""
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.error("malformed_csv", f"CSV parse error: {exc}.", start, None)
                yield start, None
                continue
            if not record:
                self.blank_lines += 1
                continue
            if self.last_bad_line >= start:  # part of the record was not UTF-8 (already reported)
                yield start, None
                continue
            yield start, record

    # --- end of file ----------------------------------------------------------------------------

    def run(self, stream: BinaryIO) -> IngestReport:
        self.lines = _physical_lines(stream, self.max_line_bytes)
        try:
            if not self.report.errors:  # an unusable schema stops before reading
                with contextlib.suppress(_StopIngest):
                    if self.fmt in (Format.JSONL, Format.CHAT_JSONL):
                        self.run_jsonl()
                    else:
                        self.run_csv()
            return self.finish()
        finally:
            if self.token_pool is not None:
                self.token_pool.shutdown(wait=False, cancel_futures=True)

    def finish(self) -> IngestReport:
        self.flush_rows()
        if self.token_counter is not None:
            self.finish_tokens()
        report = self.report
        report.row_count = self.row_count
        report.sha256 = self.digest.hexdigest()
        with contextlib.suppress(_StopIngest):
            self.dataset_checks()
        report.stats = self.build_stats()
        return report

    def dataset_checks(self) -> None:
        n = self.row_count
        if n == 0:
            if not self.report.errors:
                self.error("empty_file", "The file holds no data rows.", None, None)
            return
        if self.task_type == "classification":
            self.label_checks(n)
        if n < MIN_EXAMPLES:
            self.warn(
                "too_few_examples",
                f"{n} rows; at least {MIN_EXAMPLES} are recommended for fine-tuning.",
                rows=n,
                recommended=MIN_EXAMPLES,
            )
        duplicates, dup_sample = self.hashes.duplicates(SAMPLE)
        self.duplicates = duplicates
        if duplicates:
            self.warn(
                "exact_duplicates",
                f"{duplicates} rows repeat an earlier row exactly.",
                count=duplicates,
                sample_lines=dup_sample,
            )
        conflicts, conflict_sample = self.hashes.conflicts(SAMPLE)
        self.conflicts = conflicts
        if conflicts and self.task_type != "generation":
            self.warn(
                "conflicting_labels",
                f"{conflicts} inputs appear with different outputs.",
                count=conflicts,
                sample_lines=conflict_sample,
            )
        if self.too_long_count:
            self.warn(
                "too_long_for_context",
                f"{self.too_long_count} rows exceed the context length of {self.context_length} tokens.",
                count=self.too_long_count,
                context_length=self.context_length,
                sample_lines=self.too_long_sample,
            )
        if self.pii_counts:
            self.warn(
                "pii_detected",
                f"Possible PII in {self.pii_rows} rows: "
                + ", ".join(f"{count} {kind}" for kind, count in sorted(self.pii_counts.items())),
                counts=dict(self.pii_counts),
                rows=self.pii_rows,
            )

    def label_checks(self, n: int) -> None:
        labels = self.labels
        self.report.labels = sorted(labels)
        distinct = len(labels)
        reason = None
        if self.labels_overflow:
            reason = f"more than {MAX_TRACKED_LABELS} distinct labels"
        elif distinct < 2:
            reason = "a classifier needs at least two distinct labels"
        elif n >= 3 and distinct == n:
            reason = "every row has a different label"
        elif n >= UNFIT_MIN_ROWS_FOR_RATIO and distinct > n * UNFIT_MAX_LABEL_SHARE:
            reason = f"{distinct} distinct labels for {n} rows (more than half the rows)"
        else:
            lengths = sorted(len(label) for label in labels.elements())
            median = lengths[len(lengths) // 2]
            if median > UNFIT_MEDIAN_LABEL_CHARS:
                reason = f"labels look like free text (median {median} characters); is this generation?"
        if reason:
            self.error(
                "label_set_unfit",
                f"The labels do not form a usable label set: {reason}.",
                None,
                self.mapping.output_column if self.mapping else "output",
                distinct_labels=distinct,
                rows=n,
            )
            return
        rare = {label: count for label, count in labels.items() if count < MIN_PER_LABEL}
        if rare:
            listed = dict(sorted(rare.items(), key=lambda item: (item[1], item[0]))[:50])
            self.warn(
                "too_few_per_label",
                f"{len(rare)} labels have fewer than {MIN_PER_LABEL} examples.",
                labels=listed,
                minimum=MIN_PER_LABEL,
            )
        most, least = max(labels.values()), min(labels.values())
        if most / least > MAX_IMBALANCE:
            self.warn(
                "class_imbalance",
                f"The largest label has {most} examples, the smallest {least} (ratio {most / least:.1f}).",
                largest=labels.most_common(1)[0][0],
                smallest=min(labels, key=labels.__getitem__),
                ratio=round(most / least, 2),
            )

    def build_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "row_count": self.row_count,
            "format": str(self.fmt),
            "task_type": self.task_type,
            "column_mapping": self.mapping.as_dict() if self.mapping else None,
            "physical_lines": self.physical_lines,
            "blank_lines": self.blank_lines,
            "empty_after_strip": self.empty_after_strip,
            "length_unit": "tokens" if self.token_counter is not None else "characters",
            "input_length": self.input_lengths.summary(),
            "output_length": self.output_lengths.summary(),
            "total_length": self.total_lengths.summary(),
            "duplicates": getattr(self, "duplicates", 0),
            "conflicts": getattr(self, "conflicts", 0),
            "too_long_for_context": self.too_long_count if self.token_counter is not None else None,
            "context_length": self.context_length,
            "pii_counts": dict(self.pii_counts),
            "pii_rows": self.pii_rows,
            "pii_findings_truncated": sum(self.pii_counts.values()) > len(self.report.pii_findings),
            "error_limit_reached": self.error_limit_reached,
        }
        if self.task_type == "classification":
            stats["label_count"] = len(self.labels)
            stats["label_distribution"] = dict(self.labels.most_common())
        if self.fmt == Format.CHAT_JSONL:
            stats["rows_with_system"] = self.chat_with_system
            stats["rows_with_history"] = self.chat_with_history
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
