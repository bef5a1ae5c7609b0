"""Tenancy in one primitive: every read of a team-owned object goes through `for_user`.

An outsider never learns that another team's object exists: scoped lookups raise NotFound (404),
exactly as for a missing id. Role checks (what a member may *do*) live in `projects.roles`.
"""

from __future__ import annotations

from typing import TypeVar

from django.apps import apps
from django.db import models

from studio.errors import NotFound

REVIEWER_GROUP = "governance-reviewers"

M = TypeVar("M", bound=models.Model)


def is_governance_reviewer(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_studio_is_reviewer", None)
    if cached is None:
        cached = user.groups.filter(name=REVIEWER_GROUP).exists()
        user._studio_is_reviewer = cached
    return cached


def sees_every_team(user) -> bool:
    """Superusers and governance reviewers read across teams; nobody else does."""
    return bool(getattr(user, "is_superuser", False)) or is_governance_reviewer(user)


def member_team_ids(user) -> models.QuerySet:
    Membership = apps.get_model("projects", "Membership")
    return Membership.objects.filter(user_id=user.pk).values("team_id")


class TeamScopedQuerySet(models.QuerySet):
    """A queryset whose model reaches its team through the model's `team_path` (None for Team itself)."""

    def for_user(self, user) -> TeamScopedQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if sees_every_team(user):
            return self.all()
        path = self.model.team_path
        lookup = "pk__in" if path is None else f"{path}__in"
        return self.filter(**{lookup: member_team_ids(user)})


def get_for_user(queryset: models.QuerySet[M], user, **lookup) -> M:
    """The object if `user` may see it; otherwise NotFound, whether it exists or not."""
    try:
        return queryset.for_user(user).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound(f"{queryset.model._meta.verbose_name.capitalize()} not found.") from exc
