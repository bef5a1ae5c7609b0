"""Governance writes. `audit_event_record` is called by every other service inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from governance.models import AuditEvent
from studio.request_context import current_request_id
from studio.tenancy import REVIEWER_GROUP


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


REVIEWER_VIEW_PERMISSIONS = [
    ("projects", "team"),
    ("projects", "membership"),
    ("governance", "auditevent"),
    ("training", "trainingjob"),
    ("training", "modelversion"),
    ("training", "basemodel"),
]


@transaction.atomic
def reviewer_group_ensure():
    """The governance reviewers' group, with view access to the console's registers."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=REVIEWER_GROUP)
    for app_label, model in REVIEWER_VIEW_PERMISSIONS:
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=f"view_{model}"
        ).first()
        if permission:
            group.permissions.add(permission)
    return group


@transaction.atomic
def governance_reviewer_grant(*, user, actor=None):
    """Make `user` a governance reviewer: reads every team, acts on approvals, uses the admin console."""
    group = reviewer_group_ensure()
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit_event_record(
        actor=actor, action="governance.reviewer_grant", target=user, payload={"user": user.get_username()}
    )
    return user
