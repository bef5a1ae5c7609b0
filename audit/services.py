"""The one writer of the audit log: every other service calls `audit_event_record` inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from audit.models import AuditEvent
from studio.request_context import current_request_id


def audit_event_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    team=None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction of the change it describes."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    if team is None and target is not None:
        team = _team_of(target)
    event = AuditEvent(
        actor=actor if authenticated else None,
        actor_label=actor.get_username() if authenticated else "",
        team=team,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        payload=payload or {},
        request_id=current_request_id() or "",
    )
    event.full_clean()
    event.save()
    return event


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
