"""The audit log's hash chain: how an event's hash is computed and how a sequence of events is verified.

Django-free on purpose: the same functions verify the log in the database (`manage.py audit_verify`, the
admin view) and an exported JSONL file outside the studio. An event's hash is the SHA-256 of a canonical
JSON document of its recorded fields and the previous event's hash; the first event's previous hash is
the empty string. Events are chained in `id` order, which is also the order they were written in: the
writer holds a lock from reading the previous hash until its transaction commits.

What the chain shows: a row changed after it was written (its hash no longer matches its content), a row
deleted (the next row's `prev_hash` no longer matches), a row inserted (it has no valid hash or link).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = ""
CHAINED_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_label",
    "team_id",
    "action",
    "target_type",
    "target_id",
    "payload",
    "request_id",
)


def _timestamp(value: Any) -> str:
    """UTC, to the microsecond, whether given a datetime (the database) or ISO 8601 text (an export)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    return str(value)


def canonical(event: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes an event's hash covers: its chained fields and the previous hash, as sorted compact JSON."""
    document = {name: event.get(name) for name in CHAINED_FIELDS}
    document["occurred_at"] = _timestamp(document["occurred_at"])
    for name in ("actor_id", "team_id"):
        document[name] = None if document[name] in (None, "") else int(document[name])
    for name in ("actor_label", "action", "target_type", "target_id", "request_id"):
        document[name] = document[name] or ""
    document["payload"] = document["payload"] or {}
    document["prev_hash"] = prev_hash
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: Mapping[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(event, prev_hash)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first broken link: the event where verification stopped, and what is wrong there."""

    event_id: Any
    previous_id: Any
    kind: str  # "altered", "unchained" or "link"
    message: str


@dataclass(frozen=True)
class Verdict:
    checked: int
    head: str
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify(events: Iterable[Mapping[str, Any]]) -> Verdict:
    """Walk events in chain (`id`) order; each must carry a hash of its own content linked to the previous."""
    previous_id, previous_hash, checked = None, GENESIS, 0
    for event in events:
        checked += 1
        event_id, stored, link = event.get("id"), event.get("hash") or "", event.get("prev_hash")
        if not stored:
            return Verdict(
                checked,
                previous_hash,
                Break(
                    event_id,
                    previous_id,
                    "unchained",
                    f"Event #{event_id} has no hash: it was written outside the studio (inserted directly).",
                ),
            )
        if event_hash(event, link or "") != stored:
            return Verdict(
                checked,
                previous_hash,
                Break(
                    event_id,
                    previous_id,
                    "altered",
                    f"Event #{event_id} does not match its hash: it was changed after it was written.",
                ),
            )
        if (link or "") != previous_hash:
            after = f"event #{previous_id}" if previous_id is not None else "the start of the log"
            return Verdict(
                checked,
                previous_hash,
                Break(
                    event_id,
                    previous_id,
                    "link",
                    f"Event #{event_id} does not follow {after}: an event between them was deleted, "
                    "or one was inserted.",
                ),
            )
        previous_id, previous_hash = event_id, stored
    return Verdict(checked, previous_hash, None)
