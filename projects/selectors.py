"""Reads for teams and people; every function takes the acting user and goes through `for_user`."""

from __future__ import annotations

from django.db.models import QuerySet

from projects.models import Membership, PersonalAccessToken, Team
from studio.tenancy import get_for_user


def team_list(*, user) -> QuerySet[Team]:
    return Team.objects.for_user(user).order_by("name")


def team_get(*, user, slug: str) -> Team:
    return get_for_user(Team.objects.all(), user, slug=slug)


def membership_list(*, user, team: Team | None = None) -> QuerySet[Membership]:
    qs = (
        Membership.objects.for_user(user)
        .select_related("team", "user")
        .order_by("team__name", "user__username")
    )
    return qs.filter(team=team) if team is not None else qs


def membership_get(*, user, pk) -> Membership:
    return get_for_user(Membership.objects.select_related("team", "user"), user, pk=pk)


def personal_access_token_list(*, user) -> QuerySet[PersonalAccessToken]:
    return PersonalAccessToken.objects.for_user(user)


def personal_access_token_get(*, user, pk) -> PersonalAccessToken:
    return get_for_user(PersonalAccessToken.objects.all(), user, pk=pk)
