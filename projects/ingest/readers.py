"""Readers: turn an upload's bytes into rows, one format each, and hand every row to `accept`.

A reader decodes and parses (UTF-8 lines, JSON objects, chat messages, CSV records), applies the field
checks (`checks.FieldChecks`) at the points where a value is found, and reports what cannot be read to
the pass's `IssueLog`. It also counts what the statistics say about the file's lines.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from .checks import FieldChecks
from .formats import BOM, ColumnMapping, Format, csv_dialect, not_utf8_message, suggest_column_mapping
from .issues import IssueLog
from .jsonstrict import StrictJSONError, loads_strict

READ_CHUNK = 1 << 20
CHAT_ROLES = ("system", "user", "assistant")

# accept(line, input, output, extra): extra holds a chat row's "system" and "history" when present.
Accept = Callable[[int, str, str, dict[str, Any] | None], None]


def physical_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
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


class Reader:
    """What every format's reader shares: the lines, the checks, the issue log and the row sink."""

    def __init__(
        self,
        lines: Iterator[tuple[int, bytes | None]],
        *,
        fmt: Format,
        mapping: ColumnMapping | None,
        fields: FieldChecks,
        issues: IssueLog,
        accept: Accept,
        max_line_bytes: int,
    ) -> None:
        self.lines = lines
        self.fmt = fmt
        self.mapping = mapping
        self.fields = fields
        self.issues = issues
        self.accept = accept
        self.max_line_bytes = max_line_bytes
        self.physical_lines = 0
        self.blank_lines = 0
        self.not_utf8_lines = 0

    def run(self) -> None:
        raise NotImplementedError

    def decode(self, lineno: int, raw: bytes | None) -> str | None:
        """The line as text; None, with the error reported, when it is too long or not UTF-8."""
        self.physical_lines = lineno
        if raw is None:
            self.issues.error("line_too_long", f"Line longer than {self.max_line_bytes} bytes.", lineno, None)
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # One explanation for the file, not one line each: the rest of its lines share the cause.
            self.not_utf8_lines += 1
            if self.not_utf8_lines == 1:
                self.issues.error(
                    "not_utf8", not_utf8_message(raw, lineno, exc.start), lineno, None, byte_offset=exc.start
                )
            return None


class JsonlReader(Reader):
    """JSONL (one object a line, mapped keys) and chat JSONL (a `messages` list a line)."""

    def __init__(self, lines, **kwargs) -> None:
        super().__init__(lines, **kwargs)
        self.chat_with_system = 0
        self.chat_with_history = 0

    def decoded_lines(self) -> Iterator[tuple[int, str]]:
        for lineno, raw in self.lines:
            text = self.decode(lineno, raw)
            if text is not None:
                yield lineno, text

    def run(self) -> None:
        chat = self.fmt == Format.CHAT_JSONL
        for lineno, text in self.decoded_lines():
            if not text or text.isspace():
                self.blank_lines += 1
                continue
            if "\x00" in text:
                self.issues.error("nul_character", "The line contains a NUL character.", lineno, None)
                continue
            try:
                obj = loads_strict(text)
            except StrictJSONError as exc:
                self.issues.error(exc.code, exc.message, lineno, exc.path, **exc.details)
                continue
            except ValueError as exc:
                self.issues.error(
                    "malformed_json", f"Invalid JSON: {exc}", lineno, None, column=getattr(exc, "colno", None)
                )
                continue
            if type(obj) is not dict:
                kind = "array" if isinstance(obj, list) else type(obj).__name__
                self.issues.error(
                    "not_an_object", f"Each line must be a JSON object, got {kind}.", lineno, None
                )
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
            self.issues.error("missing_field", f"Field {in_key!r} is missing.", line, in_key)
            ok = False
        if out_key not in obj:
            self.issues.error("missing_field", f"Field {out_key!r} is missing.", line, out_key)
            ok = False
        if not ok:
            return
        inp = self.fields.text_value(obj[in_key], line, in_key)
        out = self.fields.output_value(obj[out_key], line, out_key)
        if inp is not None and out is not None:
            self.accept(line, inp, out)

    def chat_row(self, obj: dict[str, Any], line: int) -> None:
        if "messages" not in obj:
            self.issues.error("missing_field", "Field 'messages' is missing.", line, "messages")
            return
        messages = obj["messages"]
        if type(messages) is not list:
            self.issues.error("wrong_type", "'messages' must be a list.", line, "messages")
            return
        if not messages:
            self.issues.error("bad_chat_format", "'messages' is empty.", line, "messages")
            return
        system: str | None = None
        turns: list[tuple[int, str, Any]] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if type(message) is not dict:
                self.issues.error("bad_chat_format", f"{where} must be an object.", line, where)
                return
            role = message.get("role")
            if role not in CHAT_ROLES:
                self.issues.error(
                    "bad_chat_format",
                    f"{where}.role must be one of {', '.join(CHAT_ROLES)}, got {role!r}.",
                    line,
                    f"{where}.role",
                )
                return
            if "content" not in message:
                self.issues.error("missing_field", f"{where}.content is missing.", line, f"{where}.content")
                return
            if role == "system":
                if index != 0:
                    self.issues.error(
                        "bad_chat_format",
                        "A system message may only come first.",
                        line,
                        f"{where}.role",
                    )
                    return
                system = self.fields.text_value(message["content"], line, f"{where}.content")
                if system is None:
                    return
                continue
            turns.append((index, role, message["content"]))
        if not any(role == "assistant" for _, role, _ in turns):
            self.issues.error(
                "bad_chat_format", "The conversation has no assistant message.", line, "messages"
            )
            return
        for position, (index, role, _) in enumerate(turns):
            expected = "user" if position % 2 == 0 else "assistant"
            if role != expected:
                self.issues.error(
                    "bad_chat_format",
                    f"messages[{index}] should be a {expected} message: turns alternate user/assistant, "
                    "starting with user.",
                    line,
                    f"messages[{index}].role",
                )
                return
        if turns[-1][1] != "assistant":
            index = turns[-1][0]
            self.issues.error(
                "bad_chat_format",
                "The conversation must end with an assistant message.",
                line,
                f"messages[{index}].role",
            )
            return
        history: list[dict[str, str]] = []
        for index, role, content in turns[:-2]:
            text = self.fields.text_value(content, line, f"messages[{index}].content")
            if text is None:
                return
            history.append({"role": role, "content": text})
        user_index, _, user_content = turns[-2]
        answer_index, _, answer_content = turns[-1]
        inp = self.fields.text_value(user_content, line, f"messages[{user_index}].content")
        out = self.fields.output_value(answer_content, line, f"messages[{answer_index}].content")
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


class CsvReader(Reader):
    """CSV and TSV: a header, then records whose mapped columns are the input and the output."""

    def __init__(self, lines, **kwargs) -> None:
        super().__init__(lines, **kwargs)
        self.last_bad_line = 0

    def csv_text_lines(self) -> Iterator[str]:
        for lineno, raw in self.lines:
            text = self.decode(lineno, raw)
            if text is None and raw is not None:  # not UTF-8: the record keeps its shape and is skipped
                self.last_bad_line = lineno
                text = raw.decode("utf-8", errors="replace")
            yield (text or "") + "\n"

    def run(self) -> None:
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
                self.issues.error(
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
            self.issues.error(
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
                self.issues.error(
                    "malformed_csv",
                    f"Expected {width} fields, found {len(record)}.",
                    line,
                    None,
                    expected=width,
                    found=len(record),
                )
                continue
            inp = self.fields.text_value(record[in_index], line, in_name)
            out = self.fields.output_value(record[out_index], line, out_name)
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
                self.issues.error("malformed_csv", f"CSV parse error: {exc}.", start, None)
                yield start, None
                continue
            if not record:
                self.blank_lines += 1
                continue
            if self.last_bad_line >= start:  # part of the record was not UTF-8 (already reported)
                yield start, None
                continue
            yield start, record


def reader_for(fmt: Format, lines: Iterator[tuple[int, bytes | None]], **kwargs) -> Reader:
    return (JsonlReader if fmt in (Format.JSONL, Format.CHAT_JSONL) else CsvReader)(lines, fmt=fmt, **kwargs)
