"""Tier policies: the global one set by staff; a team's stricter additions set by its owners."""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_event_record
from governance import tiers
from governance.models import TierPolicy
from governance.selectors import tier_policy_global
from projects.roles import Action, require
from studio.errors import Forbidden, InvalidInput


def _validated(roles: dict) -> dict[str, list[str]]:
    clean: dict[str, list[str]] = {}
    for tier in range(tiers.MAX_TIER + 1):
        value = roles.get(str(tier), roles.get(tier, []))
        if not isinstance(value, list | tuple) or any(role not in tiers.APPROVER_ROLES for role in value):
            raise InvalidInput(
                f"Tier {tier}: a list of roles among {', '.join(tiers.APPROVER_ROLES)}.",
                details={"roles": {str(tier): ["Unknown role."]}},
            )
        clean[str(tier)] = list(tiers._ordered(value))
    return clean


def _save(*, team, user, roles: dict, automatic_tier0: bool, action: str) -> TierPolicy:
    clean = _validated(roles)
    row = TierPolicy.objects.select_for_update().filter(team=team).first() or TierPolicy(team=team)
    before = {"roles": row.roles, "automatic_tier0": row.automatic_tier0} if row.pk else None
    row.roles, row.automatic_tier0, row.updated_by = clean, bool(automatic_tier0), user
    row.full_clean(validate_unique=False)
    row.save()
    audit_event_record(
        actor=user,
        action=action,
        target=row,
        team=team,
        payload={"before": before, "after": {"roles": clean, "automatic_tier0": row.automatic_tier0}},
    )
    return row


@transaction.atomic
def tier_policy_set_global(*, user, roles: dict, automatic_tier0: bool = True) -> TierPolicy:
    if not (user.is_staff or user.is_superuser):
        raise Forbidden("Only staff set the global tier policy.", code="permission_denied")
    return _save(
        team=None, user=user, roles=roles, automatic_tier0=automatic_tier0, action="tier_policy.set_global"
    )


@transaction.atomic
def tier_policy_set_team(*, team, user, roles: dict, automatic_tier0: bool = True) -> TierPolicy:
    """A team's own policy: it may ask more than the global one, never less (refused, naming the tier)."""
    require(user, team, Action.MANAGE_TEAM)
    proposed = tiers.Policy(
        roles={int(k): tuple(v) for k, v in _validated(roles).items()}, automatic_tier0=bool(automatic_tier0)
    )
    baseline = tier_policy_global()
    if not tiers.is_at_least_as_strict(proposed, baseline):
        looser = [
            str(tier)
            for tier in range(tiers.MAX_TIER + 1)
            if not set(baseline.required_roles(tier)) <= set(proposed.required_roles(tier))
        ]
        raise InvalidInput(
            "A team's policy can be stricter than the global policy, never looser"
            + (f" (tier {', '.join(looser)})." if looser else " (tier 0 is not automatic globally)."),
            code="policy_looser_than_global",
            details={"roles": {tier: ["Keeps fewer approvers than the global policy."] for tier in looser}},
        )
    return _save(
        team=team, user=user, roles=roles, automatic_tier0=automatic_tier0, action="tier_policy.set_team"
    )
