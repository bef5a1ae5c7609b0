"""API keys: created for a calling service (the secret shown once), revoked, and checked per request."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from projects.models import PersonalAccessToken, Team
from projects.roles import Action, require
from projects.services import personal_access_token_scope_require
from serving.models import ApiKey, Endpoint
from studio.errors import InvalidInput, NotFound

# Longer than any key this module makes; anything longer is refused before it is hashed.
MAX_KEY_LENGTH = 128


def _team_endpoints(team: Team, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    endpoints = list(endpoints)
    if not endpoints:
        raise InvalidInput(
            "Name at least one endpoint the key may call.", details={"endpoints": ["Required."]}
        )
    if any(endpoint.project.team_id != team.pk for endpoint in endpoints):
        raise NotFound("Endpoint not found.")
    return endpoints


@transaction.atomic
def api_key_create(
    *,
    user,
    team: Team,
    name: str,
    endpoints: Iterable[Endpoint],
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
    via_token: PersonalAccessToken | None = None,
) -> tuple[ApiKey, str]:
    """A key for the team's `endpoints`, with the secret; only its hash is stored, so it is shown once.

    `via_token` is the access token that signed the request (None for a browser session): it needs the
    `can_manage_tokens` scope, and the key works only while that token does (revoked or expired, the
    key ends with it), so a leaked token cannot leave keys behind."""
    require(user, team, Action.MANAGE_ENDPOINTS)
    personal_access_token_scope_require(via_token=via_token, action="create API keys")
    endpoints = _team_endpoints(team, endpoints)
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(
            "The expiry date must be in the future.", details={"expires_at": ["Must be in the future."]}
        )
    secret = ApiKey.PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        team=team,
        name=name.strip(),
        prefix=secret[: ApiKey.SHOWN_CHARS],
        secret_hash=ApiKey.hash_secret(secret),
        expires_at=expires_at,
        created_by=user,
        minted_by_token=via_token,
    )
    if rate_limit_per_minute is not None:
        key.rate_limit_per_minute = rate_limit_per_minute
    key.full_clean()
    key.save()
    key.endpoints.set(endpoints)
    audit_event_record(
        actor=user,
        action="api_key.create",
        target=key,
        payload={
            "name": key.name,
            "prefix": key.prefix,
            "endpoints": sorted(endpoint.slug for endpoint in endpoints),
            "expires_at": expires_at.isoformat() if expires_at else None,
            "minted_by_token": via_token.pk if via_token else None,
            "rate_limit_per_minute": key.rate_limit_per_minute,
        },
    )
    return key, secret


@transaction.atomic
def api_key_revoke(*, key: ApiKey, user, via_token: PersonalAccessToken | None = None) -> ApiKey:
    """Revoke a key: the next request with it is refused (the data plane checks every request)."""
    require(user, key.team, Action.MANAGE_ENDPOINTS)
    personal_access_token_scope_require(via_token=via_token, action="revoke API keys")
    revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    if revoked:
        audit_event_record(
            actor=user, action="api_key.revoke", target=key, payload={"name": key.name, "prefix": key.prefix}
        )
    return key


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key whose secret is `plaintext`, or None (unknown, revoked or expired).

    Looked up by the secret's SHA-256 (the stored value reveals nothing about the secret), then compared
    in constant time. Read-only: usage is counted when the request is logged (`request_log_record`)."""
    if not isinstance(plaintext, str) or not plaintext or len(plaintext) > MAX_KEY_LENGTH:
        return None
    digest = ApiKey.hash_secret(plaintext)
    key = ApiKey.objects.select_related("team", "minted_by_token").filter(secret_hash=digest).first()
    if key is None or not hmac.compare_digest(key.secret_hash, digest):
        return None
    if key.revoked_at is not None or key.is_expired or key.minting_token_ended:
        return None
    return key
