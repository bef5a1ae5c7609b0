"""Governance reviewers: a global group that reads every team and uses the admin console."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from audit.services import audit_event_record
from studio.tenancy import REVIEWER_GROUP


def _reviewer_view_permissions():
    """`view_<model>` for every model an app lists in its AppConfig's `reviewer_readable_models`."""
    wanted = Q(pk__in=[])
    for config in apps.get_app_configs():
        for model in getattr(config, "reviewer_readable_models", ()):
            wanted |= Q(content_type__app_label=config.label, codename=f"view_{model}")
    return Permission.objects.filter(wanted)


@transaction.atomic
def reviewer_group_ensure() -> Group:
    """The governance reviewers' group, with view access to the console's registers."""
    group, _ = Group.objects.get_or_create(name=REVIEWER_GROUP)
    group.permissions.add(*_reviewer_view_permissions())
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
