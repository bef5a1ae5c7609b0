"""The one writer of the audit log: every other service calls `audit_event_record` inside its transaction."""

from __future__ import annotations

import json
import zlib
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditEvent
from studio.request_context import current_request_id

# The key of the PostgreSQL advisory lock that serialises writers of the chain (any constant would do).
CHAIN_LOCK_KEY = zlib.crc32(b"audit.chain")


def audit_event_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    team=None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event, linked to the previous one. Call it inside the transaction of the change
    it describes: the chain stays locked from here until that transaction ends, so events are linked in
    the order they commit (and their ids follow that order)."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    if team is None and target is not None:
        team = _team_of(target)
    with transaction.atomic():
        _lock_chain()
        prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or chain.GENESIS
        event = AuditEvent(
            occurred_at=timezone.now(),
            actor=actor if authenticated else None,
            actor_label=actor.get_username() if authenticated else "",
            team=team,
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            payload=payload or {},
            request_id=current_request_id() or "",
            prev_hash=prev_hash,
        )
        event.full_clean(exclude=["hash"])
        # Hash what the database will give back (JSON round-trips the payload: tuples become lists…).
        event.payload = json.loads(json.dumps(event.payload))
        event.hash = chain.event_hash(event.chained_fields(), prev_hash)
        event.save()
    return event


def _lock_chain() -> None:
    """Hold the chain until the transaction ends: two writers never link to the same previous event.

    PostgreSQL: a transaction-scoped advisory lock (READ COMMITTED then reads the latest committed head).
    SQLite: a write statement that changes nothing takes the database's single write lock.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        elif connection.vendor == "sqlite":
            cursor.execute("DELETE FROM audit_auditevent WHERE 0")


def _team_of(target: models.Model):
    """The team a target belongs to, following its `team_path` (a team is its own team)."""
    if target._meta.label_lower == "projects.team":
        return target
    path = getattr(target, "team_path", None)
    obj = target
    for part in (path or "").split("__"):
        if not part:
            return None
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
