"""Writes for teams, memberships and personal access tokens, each in one transaction with its audit event."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import audit_event_record
from projects.choices import Role
from projects.models import Membership, PersonalAccessToken, Team
from projects.roles import Action, forget_roles, require
from studio.errors import Conflict, Forbidden, InvalidInput, NotFound
from studio.services import model_update

User = get_user_model()


_SLUG_SUFFIX_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _team_slug_new(name: str) -> str:
    """A fresh slug: the name's slug and a random suffix, so that no answer says which slugs are taken."""
    base = slugify(name)[:50].strip("-") or "team"
    while True:
        suffix = "".join(secrets.choice(_SLUG_SUFFIX_ALPHABET) for _ in range(6))
        slug = f"{base}-{suffix}"
        if not Team.objects.filter(slug=slug).exists():
            return slug


@transaction.atomic
def team_create(*, user, name: str, description: str = "", slug: str = "") -> Team:
    """Create a team; its creator becomes its owner.

    The slug is chosen here, never by the caller: a caller-chosen slug that is taken would tell an
    outsider that the team exists. `slug` is for the demo seed and test fixtures only.
    """
    if slug:
        if Team.objects.filter(slug=slug).exists():
            raise Conflict(f"A team with the slug “{slug}” already exists.", code="duplicate")
    else:
        slug = _team_slug_new(name)
    team = Team(name=name.strip(), slug=slug, description=description)
    team.full_clean()
    team.save()
    membership = Membership(team=team, user=user, role=Role.OWNER)
    membership.full_clean()
    membership.save()
    forget_roles(user)
    audit_event_record(
        actor=user, action="team.create", target=team, payload={"name": team.name, "slug": slug}
    )
    audit_event_record(
        actor=user,
        action="membership.add",
        target=membership,
        payload={"user": user.get_username(), "role": Role.OWNER},
    )
    return team


@transaction.atomic
def team_update(*, team: Team, user, name: str | None = None, description: str | None = None) -> Team:
    require(user, team, Action.MANAGE_TEAM)
    data = {"name": name.strip() if name is not None else None, "description": description}
    changes = model_update(
        instance=team, fields=("name", "description"), data={k: v for k, v in data.items() if v is not None}
    )
    if changes:
        audit_event_record(actor=user, action="team.update", target=team, payload=changes)
    return team


def _user_by_login(login: str):
    login = (login or "").strip()
    user = User.objects.filter(username__iexact=login).first() or (
        User.objects.filter(email__iexact=login).first() if "@" in login else None
    )
    if user is None:
        raise InvalidInput(
            f"No user “{login}” exists. Ask an administrator to create the account first.",
            code="unknown_user",
            details={"user": ["No such user."]},
        )
    return user


def _validate_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidInput(
            f"“{role}” is not a role. Choose one of: {', '.join(Role.values)}.",
            code="invalid_role",
            details={"role": [f"Choose one of: {', '.join(Role.values)}."]},
        )
    return role


@transaction.atomic
def membership_add(*, team: Team, user, login: str, role: str) -> Membership:
    """Add an existing user to the team with a role (team owners only)."""
    require(user, team, Action.MANAGE_TEAM)
    member = _user_by_login(login)
    _validate_role(role)
    if Membership.objects.filter(team=team, user=member).exists():
        raise Conflict(f"{member.get_username()} is already a member of {team.name}.", code="already_member")
    membership = Membership(team=team, user=member, role=role)
    membership.full_clean()
    membership.save()
    forget_roles(member)
    audit_event_record(
        actor=user,
        action="membership.add",
        target=membership,
        payload={"user": member.get_username(), "role": role},
    )
    return membership


def _locked_owner_count(team: Team) -> int:
    return Membership.objects.select_for_update().filter(team=team, role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, membership: Membership, user, role: str) -> Membership:
    team = membership.team
    require(user, team, Action.MANAGE_TEAM)
    _validate_role(role)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    old = membership.role
    if old == role:
        return membership
    if old == Role.OWNER and _locked_owner_count(team) <= 1:
        raise Conflict(
            "A team needs at least one owner. Make someone else an owner first.", code="last_owner"
        )
    membership.role = role
    membership.full_clean()
    membership.save()
    forget_roles(membership.user)
    forget_roles(user)
    audit_event_record(
        actor=user,
        action="membership.change_role",
        target=membership,
        payload={"user": membership.user.get_username(), "role": [old, role]},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, user) -> None:
    team = membership.team
    require(user, team, Action.MANAGE_TEAM)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER and _locked_owner_count(team) <= 1:
        raise Conflict(
            "A team needs at least one owner. Make someone else an owner first.", code="last_owner"
        )
    audit_event_record(
        actor=user,
        action="membership.remove",
        target=membership,
        team=team,
        payload={"user": membership.user.get_username(), "role": membership.role},
    )
    membership.delete()
    forget_roles(membership.user)


def personal_access_token_scope_require(*, via_token: PersonalAccessToken | None, action: str) -> None:
    """A request signed with a token may create or revoke credentials (access tokens, endpoint API keys)
    only when that token's scope allows it; a browser session (`via_token` None) always may."""
    if via_token is not None and not via_token.can_manage_tokens:
        raise Forbidden(
            f"This access token may not {action}. Sign in to the studio to {action}, or use a "
            "token created with “may manage tokens”.",
            code="token_scope",
        )


@transaction.atomic
def personal_access_token_create(
    *,
    user,
    name: str,
    expires_at: datetime | None = None,
    can_manage_tokens: bool = False,
    via_token: PersonalAccessToken | None = None,
) -> tuple[PersonalAccessToken, str]:
    """Create a token and return it with its secret, which is never stored and never shown again.

    `via_token` is the token that signed the request (None for a browser session): it must have the
    `can_manage_tokens` scope, and it becomes the new token's parent, so revoking it revokes this one.
    A minted token never outlives its parent.
    """
    personal_access_token_scope_require(via_token=via_token, action="create tokens")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(
            "The expiry date must be in the future.", details={"expires_at": ["Must be in the future."]}
        )
    if via_token is not None and via_token.expires_at is not None:
        expires_at = min(expires_at or via_token.expires_at, via_token.expires_at)
    secret = PersonalAccessToken.PREFIX + secrets.token_urlsafe(30)
    token = PersonalAccessToken(
        user=user,
        name=name.strip(),
        token_prefix=secret[: len(PersonalAccessToken.PREFIX) + 4],
        token_hash=PersonalAccessToken.hash_secret(secret),
        expires_at=expires_at,
        can_manage_tokens=can_manage_tokens,
        parent=via_token,
    )
    token.full_clean()
    token.save()
    audit_event_record(
        actor=user,
        action="token.create",
        target=token,
        payload={
            "name": token.name,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "can_manage_tokens": can_manage_tokens,
            "parent": via_token.pk if via_token else None,
        },
    )
    return token, secret


def _token_family(token: PersonalAccessToken) -> list[PersonalAccessToken]:
    """The token and every token minted from it, at any depth (breadth first)."""
    family, frontier = [token], [token.pk]
    while frontier:
        children = list(PersonalAccessToken.objects.select_for_update().filter(parent_id__in=frontier))
        family.extend(children)
        frontier = [child.pk for child in children]
    return family


@transaction.atomic
def personal_access_token_revoke(
    *, token: PersonalAccessToken, user, via_token: PersonalAccessToken | None = None
) -> PersonalAccessToken:
    """Revoke a token and every token minted from it (a leaked token's offspring end with it)."""
    if token.user_id != user.pk:
        raise NotFound("Token not found.")
    personal_access_token_scope_require(via_token=via_token, action="revoke tokens")
    now = timezone.now()
    for member in _token_family(token):
        if member.revoked_at is None:
            member.revoked_at = now
            member.save(update_fields=["revoked_at", "updated_at"])
            payload = {"name": member.name}
            if member.pk != token.pk:
                payload["revoked_with"] = token.pk
            audit_event_record(actor=user, action="token.revoke", target=member, payload=payload)
    token.refresh_from_db()
    return token
