"""The audit log as CSV or JSON Lines, in chain order and carrying the chain (`prev_hash`, `hash`), so that
a full export can be verified outside the studio with `audit.chain.verify` (or `manage.py audit_verify
--file`). A filtered export carries the same columns; its rows verify one by one, its links only where
the export holds consecutive events."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from audit import chain
from audit.models import AuditEvent

COLUMNS = ("id", *chain.CHAINED_FIELDS, "team", "prev_hash", "hash")
FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


def _rows(events: QuerySet[AuditEvent]) -> Iterator[dict]:
    for event in events.select_related("team").order_by("id").iterator(chunk_size=2000):
        row = event.chained_fields()
        row["occurred_at"] = event.occurred_at.isoformat()
        row["team"] = event.team.slug if event.team_id and event.team else ""
        yield {column: row[column] for column in COLUMNS}


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    for row in _rows(events):
        yield json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    for row in _rows(events):
        writer.writerow(
            [
                json.dumps(row[c], ensure_ascii=False, sort_keys=True) if c == "payload" else row[c]
                for c in COLUMNS
            ]
        )
        yield flush()


def lines(events: QuerySet[AuditEvent], fmt: str) -> Iterator[str]:
    return (csv_lines if fmt == "csv" else jsonl_lines)(events)


def parse(lines_in: Iterable[str], fmt: str) -> Iterator[dict]:
    """The rows of an export, as `audit.chain.verify` reads them."""
    if fmt == "jsonl":
        for line in lines_in:
            if line.strip():
                yield json.loads(line)
        return
    for row in csv.DictReader(lines_in):
        row["payload"] = json.loads(row["payload"] or "{}")
        yield row
