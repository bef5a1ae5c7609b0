"""Format detection, header reading, previews and column-mapping suggestions (mapping step of the upload)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .jsonstrict import loads_strict

BOM = codecs.BOM_UTF8


class Format(StrEnum):
    JSONL = "jsonl"
    CHAT_JSONL = "chat_jsonl"
    CSV = "csv"
    TSV = "tsv"


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which column (CSV/TSV) or key (JSONL) holds the model input and which the expected output."""

    input_column: str | None
    output_column: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"input_column": self.input_column, "output_column": self.output_column}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnMapping:
        return cls(data.get("input_column"), data.get("output_column"))


INPUT_NAMES = (
    "input", "text", "question", "utterance", "prompt", "query", "sentence", "message", "instruction",
)  # fmt: skip
OUTPUT_NAMES = (
    "output", "label", "intent", "answer", "target", "response", "completion", "category", "class",
)  # fmt: skip

_CHAT_HINT = re.compile(rb'^\s*\{\s*"messages"\s*:')


def _decode_head(head: bytes) -> str:
    """Decode the start of a file, tolerating a multi-byte character cut at the end."""
    if head.startswith(BOM):
        head = head[len(BOM) :]
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)


def _complete_lines(text: str) -> list[str]:
    """Lines of the head; the last one is dropped if it may be cut (no newline after it)."""
    lines = text.split("\n")
    if len(lines) > 1:
        lines = lines[:-1]
    return lines


def detect_format(head: bytes, filename: str) -> Format:
    """Guess the format from the first bytes and the file name; content wins over the extension.

    A first non-blank line that starts with "{" means JSONL (chat JSONL when its object has a
    "messages" list). Otherwise .tsv/.tab means TSV, .csv means CSV, and for other names the first
    line's tabs versus commas decide. Never raises: an empty head falls back to the extension.
    """
    body = head[len(BOM) :] if head.startswith(BOM) else head
    first = next((line for line in body.split(b"\n") if line.strip()), b"")
    name = filename.lower()
    if first.lstrip().startswith(b"{"):
        try:
            obj = loads_strict(first.decode("utf-8", "replace"))
        except ValueError:  # not JSON, or JSON past the ingest's bounds (100,000 nested arrays…)
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
            return Format.CHAT_JSONL
        if obj is None and _CHAT_HINT.match(first):
            return Format.CHAT_JSONL
        return Format.JSONL
    if name.endswith((".tsv", ".tab")):
        return Format.TSV
    if name.endswith(".csv"):
        return Format.CSV
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return Format.JSONL
    return Format.TSV if first.count(b"\t") > first.count(b",") else Format.CSV


# Signatures of files people pick by mistake: (leading bytes, what it is).
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.xls or .doc)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"{\\rtf", "a rich-text (RTF) document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)
SAVE_AS_HINT = (
    "Upload a text file: in Excel or LibreOffice choose File → Save As → “CSV UTF-8 (comma delimited)”, "
    "or export JSONL."
)
EXPORT_HINT = (
    "Upload the examples as a text file with one example per line or row: export them as CSV or JSONL "
    "from the system they come from (a document, an image or an archive holds no rows the studio can read)."
)
SPREADSHEET_KINDS = (
    "an Excel workbook (.xlsx)",
    "an OpenDocument spreadsheet (.ods)",
    "a legacy Office file (.xls or .doc)",
)


def binary_kind(head: bytes, filename: str = "") -> str | None:
    """What a file is when it is not a text file at all (a spreadsheet, a PDF…), judged by its first
    bytes; None for text. A NUL byte in the head marks any other binary file."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            if signature == b"PK\x03\x04" and (
                filename.lower().endswith((".xlsx", ".xlsm")) or b"xl/" in head[:4096]
            ):
                return "an Excel workbook (.xlsx)"
            if signature == b"PK\x03\x04" and (filename.lower().endswith(".ods") or b"opendocument" in head):
                return "an OpenDocument spreadsheet (.ods)"
            return kind
    if b"\x00" in head:
        return "a binary file"
    return None


def not_text_message(kind: str, filename: str = "") -> str:
    """The one answer to a binary upload: what it is and how to make the file the studio reads."""
    name = f"“{filename}”" if filename else "This file"
    hint = SAVE_AS_HINT if kind in SPREADSHEET_KINDS else EXPORT_HINT
    return f"{name} is {kind}, not a CSV, TSV or JSONL text file. {hint}"


def not_utf8_message(raw: bytes, lineno: int, byte: int) -> str:
    """The one answer to a file in another encoding (Excel's plain “CSV” on Windows writes Windows-1252)."""
    try:
        raw.decode("cp1252")
        guess = "Windows-1252 (what Excel's plain “CSV” format writes)"
    except UnicodeDecodeError:
        guess = "an encoding other than UTF-8"
    return (
        f"The file is not UTF-8 text: line {lineno} (byte {byte}) and possibly others look like {guess}. "
        "Save it again as “CSV UTF-8 (comma delimited)”, or convert it to UTF-8, then upload it."
    )


def head_encoding_problem(head: bytes) -> str | None:
    """The not-UTF-8 message for the first bad line of a file's head (a character cut at the end is fine)."""
    body = head[len(BOM) :] if head.startswith(BOM) else head
    try:
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
        return None
    except UnicodeDecodeError as exc:
        lineno = body.count(b"\n", 0, exc.start) + 1
        line_start = body.rfind(b"\n", 0, exc.start) + 1
        line_end = body.find(b"\n", exc.start)
        raw = body[line_start : line_end if line_end >= 0 else len(body)]
        return not_utf8_message(raw, lineno, exc.start - line_start)


def csv_dialect(fmt: Format | str) -> dict[str, Any]:
    """csv module options; TSV uses the same quoting rules as CSV (as pandas and spreadsheets write it)."""
    return {"delimiter": "\t" if Format(fmt) == Format.TSV else ",", "strict": True}


def read_header(head: bytes, fmt: Format | str) -> list[str]:
    """Column names (CSV/TSV) or the keys seen in the first JSONL objects, in first-seen order."""
    fmt = Format(fmt)
    text = _decode_head(head)
    if fmt == Format.CHAT_JSONL:
        return ["messages"]
    if fmt == Format.JSONL:
        keys: dict[str, None] = {}
        for obj in _head_objects(text, limit=20):
            keys.update(dict.fromkeys(obj))
        return list(keys)
    reader = csv.reader(io.StringIO(text, newline=""), **csv_dialect(fmt))
    try:
        return [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error):
        return []


def _head_objects(text: str, limit: int) -> Iterable[dict[str, Any]]:
    count = 0
    for line in _complete_lines(text):
        if not line.strip():
            continue
        try:
            obj = loads_strict(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj
            count += 1
            if count >= limit:
                return


def preview_rows(head: bytes, fmt: Format | str, limit: int = 5) -> list[dict[str, Any]]:
    """The first rows as dicts (column name to value), for the mapping step. Unparseable rows are skipped."""
    fmt = Format(fmt)
    text = _decode_head(head)
    if fmt in (Format.JSONL, Format.CHAT_JSONL):
        return list(_head_objects(text, limit))
    lines = _complete_lines(text)
    reader = csv.reader(io.StringIO("\n".join(lines), newline=""), **csv_dialect(fmt))
    rows: list[dict[str, Any]] = []
    try:
        header = [name.strip() for name in next(reader)]
        for record in reader:
            if not record:
                continue
            if len(record) == len(header):
                rows.append(dict(zip(header, record, strict=True)))
            if len(rows) >= limit:
                break
    except (StopIteration, csv.Error):
        pass
    return rows


def _normalise_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _by_name(header: Sequence[str], names: Sequence[str], exclude: str | None) -> str | None:
    normalised = {column: _normalise_name(column) for column in header if column != exclude}
    for wanted in names:  # exact names first, in priority order
        for column, norm in normalised.items():
            if norm == wanted:
                return column
    for wanted in names:  # then affixed names: "input_text", "gold_label"
        for column, norm in normalised.items():
            if norm.startswith(wanted + "_") or norm.endswith("_" + wanted):
                return column
    return None


def suggest_column_mapping(header: list[str], sample_rows: Iterable[Any]) -> ColumnMapping:
    """Suggest input and output columns.

    By name first (input: input/text/question/utterance/prompt/...; output: output/label/intent/
    answer/target/response/...). Failing that, from the sample rows: the input is the text column
    with the longest mean value, the output the remaining column with the fewest distinct values.
    `sample_rows` may be dicts (as from `preview_rows`) or sequences aligned with `header`.
    """
    header = list(header)
    input_column = _by_name(header, INPUT_NAMES, None)
    output_column = _by_name(header, OUTPUT_NAMES, input_column)
    if input_column and output_column:
        return ColumnMapping(input_column, output_column)

    columns: dict[str, list[str]] = {name: [] for name in header}
    for row in sample_rows:
        items = row.items() if isinstance(row, Mapping) else zip(header, row, strict=False)
        for name, value in items:
            if name in columns and value is not None:
                columns[name].append(value if isinstance(value, str) else json.dumps(value, sort_keys=True))

    def mean_length(name: str) -> float:
        values = columns[name]
        return sum(map(len, values)) / len(values) if values else 0.0

    if input_column is None:
        candidates = [name for name in header if name != output_column]
        if candidates:
            input_column = max(candidates, key=lambda name: (mean_length(name), -header.index(name)))
    if output_column is None:
        candidates = [name for name in header if name != input_column]
        if candidates:
            output_column = min(
                candidates,
                key=lambda name: (len(set(columns[name])) or float("inf"), header.index(name)),
            )
    return ColumnMapping(input_column, output_column)
