"""The approval tier of a promotion, computed from what changed versus the production version.

Django-free: the facts (`Change`) are gathered by `governance.evidence`; this module only decides.

- Tier 0, automatic: the weights are those of the production version (only serving configuration
  changes) and every gate passes; the policy itself approves.
- Tier 1: new weights from the same base model family and the same data sources: one ML engineer.
- Tier 2: a different base model family: ML engineer and product owner.
- Tier 3: new data sources, new data classes, or any personal data: adds a governance reviewer.
- A risk acceptance (promoting despite failing gates) raises the tier by one, up to 3.

The first production version of a project has no production version to compare with: its data
sources are all new, so it is tier 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ML_ENGINEER = "ml_engineer"
PRODUCT_OWNER = "product_owner"
GOVERNANCE_REVIEWER = "governance_reviewer"
APPROVER_ROLES = (ML_ENGINEER, PRODUCT_OWNER, GOVERNANCE_REVIEWER)
APPROVER_ROLE_LABELS = {
    ML_ENGINEER: "ML engineer",
    PRODUCT_OWNER: "Product owner",
    GOVERNANCE_REVIEWER: "Governance reviewer",
}
MAX_TIER = 3


def role_label(role: str) -> str:
    """An approver role as people read it ("ML engineer"); an unknown code as it is."""
    return APPROVER_ROLE_LABELS.get(role, role)


TIER_SUMMARIES = {
    0: "Automatic: only serving configuration changes (same weights) and every gate passes.",
    1: "New weights from the same base model family, trained on the same data sources.",
    2: "A different base model family.",
    3: "New data sources, new data classes, or any personal data.",
}

# The global default: who approves each tier. Tier 0 needs nobody when `automatic_tier0` holds.
DEFAULT_ROLES: dict[int, tuple[str, ...]] = {
    0: (),
    1: (ML_ENGINEER,),
    2: (ML_ENGINEER, PRODUCT_OWNER),
    3: (ML_ENGINEER, PRODUCT_OWNER, GOVERNANCE_REVIEWER),
}


@dataclass(frozen=True)
class Change:
    """What a candidate changes versus the production version (None: there is none)."""

    has_production: bool
    weights_changed: bool
    base_family_changed: bool = False
    new_data_sources: tuple[str, ...] = ()
    new_data_classes: tuple[str, ...] = ()
    personal_data: tuple[str, ...] = ()  # why: "e-mail found in Intents v2", "lawful basis: consent"…
    gates_passed: bool = True
    risk_accepted: bool = False


@dataclass(frozen=True)
class TierDecision:
    tier: int
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def automatic(self) -> bool:
        return self.tier == 0


def compute_tier(change: Change) -> TierDecision:
    """The tier and, in plain words, each fact that set it."""
    reasons: list[str] = []
    if not change.has_production:
        tier = 3
        reasons.append("First production version of the project: all its data sources are new.")
    elif change.personal_data or change.new_data_sources or change.new_data_classes:
        tier = 3
    elif change.base_family_changed:
        tier = 2
        reasons.append("Different base model family from the production version.")
    elif change.weights_changed:
        tier = 1
        reasons.append("New weights, same base model family and data sources as the production version.")
    else:
        tier = 0
        reasons.append("Same weights as the production version: only serving configuration changes.")
    if change.has_production:
        reasons += [f"New data source: {source}." for source in change.new_data_sources]
        reasons += [f"New data class: {data_class}." for data_class in change.new_data_classes]
    reasons += [f"Personal data: {why}." for why in change.personal_data]
    if change.risk_accepted:
        tier = min(MAX_TIER, tier + 1)
        reasons.append("Risk accepted for failing gates: one tier higher.")
    elif not change.gates_passed and tier == 0:
        tier = 1  # never automatic without every gate passing (such a request is refused anyway)
    return TierDecision(tier, tuple(reasons))


@dataclass(frozen=True)
class Policy:
    """Who approves each tier, and whether tier 0 is automatic."""

    roles: Mapping[int, tuple[str, ...]]
    automatic_tier0: bool = True

    def required_roles(self, tier: int) -> tuple[str, ...]:
        roles = tuple(self.roles.get(tier, ()))
        if tier == 0 and not self.automatic_tier0 and not roles:
            return (ML_ENGINEER,)
        return roles


GLOBAL_DEFAULT = Policy(roles=DEFAULT_ROLES, automatic_tier0=True)


def _ordered(roles: Iterable[str]) -> tuple[str, ...]:
    wanted = set(roles)
    return tuple(role for role in APPROVER_ROLES if role in wanted)


def policy_for_team(global_policy: Policy, team_policy: Policy | None) -> Policy:
    """The team's effective policy: the global one made stricter by the team's, never looser.

    Each tier needs every role either policy names (a union), and tier 0 is automatic only if both allow.
    """
    if team_policy is None:
        return global_policy
    roles = {
        tier: _ordered((*global_policy.roles.get(tier, ()), *team_policy.roles.get(tier, ())))
        for tier in range(MAX_TIER + 1)
    }
    return Policy(roles=roles, automatic_tier0=global_policy.automatic_tier0 and team_policy.automatic_tier0)


def is_at_least_as_strict(policy: Policy, baseline: Policy) -> bool:
    """True when `policy` asks, for every tier, at least what `baseline` asks."""
    if policy.automatic_tier0 and not baseline.automatic_tier0:
        return False
    return all(
        set(baseline.required_roles(tier)) <= set(policy.required_roles(tier)) for tier in range(MAX_TIER + 1)
    )
