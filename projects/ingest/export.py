"""Exports of normalised rows: JSONL, and CSV safe to open in a spreadsheet."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

# OWASP "CSV injection": a cell starting with one of these is evaluated as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def neutralise_cell(value: Any) -> str:
    """Text for one CSV cell; formula-looking text gets a leading apostrophe (shown, not evaluated)."""
    text = value if isinstance(value, str) else _ROW_ENCODER.encode(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_csv(
    rows_iter: Iterable[dict[str, Any]],
    dest: BinaryIO,
    *,
    fieldnames: Sequence[str] | None = None,
    excel_bom: bool = True,
) -> int:
    """Write rows as UTF-8 CSV (with a BOM so spreadsheets detect UTF-8, unless excel_bom=False).

    Columns are `fieldnames`, or the keys of the first row; non-text values are written as JSON.
    Returns the number of rows written.
    """
    text = io.TextIOWrapper(dest, encoding="utf-8", newline="", write_through=True)
    try:
        if excel_bom:
            dest.write(codecs.BOM_UTF8)
        writer: Any = None
        count = 0
        for row in rows_iter:
            if writer is None:
                columns = list(fieldnames) if fieldnames is not None else list(row)
                writer = csv.writer(text)
                writer.writerow([neutralise_cell(name) for name in columns])
            writer.writerow([neutralise_cell(row.get(name, "")) for name in columns])
            count += 1
        if writer is None and fieldnames is not None:
            csv.writer(text).writerow([neutralise_cell(name) for name in fieldnames])
        text.flush()
        return count
    finally:
        text.detach()  # leave `dest` open for the caller


def write_jsonl(rows_iter: Iterable[dict[str, Any]], dest: BinaryIO) -> tuple[int, str]:
    """Write rows as compact UTF-8 JSON lines; returns (row count, sha256 of the bytes written)."""
    digest = hashlib.sha256()
    count = 0
    for row in rows_iter:
        data = (_ROW_ENCODER.encode(row) + "\n").encode("utf-8")
        digest.update(data)
        dest.write(data)
        count += 1
    return count, digest.hexdigest()


def read_jsonl(src: BinaryIO) -> Iterable[dict[str, Any]]:
    """Iterate the rows of a normalised JSONL file (blank lines skipped)."""
    for raw in src:
        if raw.strip():
            yield json.loads(raw)
