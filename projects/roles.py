"""Role predicates: what a member of a team may do. The only module that knows the role → action table."""

from __future__ import annotations

from enum import StrEnum

from projects.choices import Role
from projects.models import Membership
from studio.errors import Forbidden
from studio.tenancy import is_governance_reviewer


class Action(StrEnum):
    VIEW = "view"
    MANAGE_TEAM = "manage_team"
    EDIT_PROJECT = "edit_project"
    EDIT_CHARTER = "edit_charter"
    MANAGE_DATASETS = "manage_datasets"
    EDIT_EVAL_SPEC = "edit_eval_spec"
    SIGN_EVAL_SPEC = "sign_eval_spec"
    RUN_JOBS = "run_jobs"
    RUN_EVALS = "run_evals"
    REQUEST_PROMOTION = "request_promotion"
    APPROVE_ML_TIER = "approve_ml_tier"
    APPROVE_PRODUCT_TIER = "approve_product_tier"
    APPROVE_GOVERNANCE_TIER = "approve_governance_tier"
    MANAGE_ENDPOINTS = "manage_endpoints"
    PUBLISH_ENDPOINTS = "publish_endpoints"
    REVIEW_ESCALATIONS = "review_escalations"


ACTION_LABELS = {
    Action.VIEW: "view this team's work",
    Action.MANAGE_TEAM: "manage the team's members and settings",
    Action.EDIT_PROJECT: "create or edit projects",
    Action.EDIT_CHARTER: "edit charters",
    Action.MANAGE_DATASETS: "upload or change datasets",
    Action.EDIT_EVAL_SPEC: "edit eval specs",
    Action.SIGN_EVAL_SPEC: "sign eval specs",
    Action.RUN_JOBS: "start or stop training jobs",
    Action.RUN_EVALS: "start evaluations",
    Action.REQUEST_PROMOTION: "request promotions",
    Action.APPROVE_ML_TIER: "approve ML-tier reviews",
    Action.APPROVE_PRODUCT_TIER: "approve product-tier reviews",
    Action.APPROVE_GOVERNANCE_TIER: "approve governance reviews",
    Action.MANAGE_ENDPOINTS: "manage API keys",
    Action.PUBLISH_ENDPOINTS: "publish or configure endpoints",
    Action.REVIEW_ESCALATIONS: "review escalated answers",
}

_PRODUCT_OWNER = {
    Action.VIEW,
    Action.EDIT_PROJECT,
    Action.EDIT_CHARTER,
    Action.MANAGE_DATASETS,
    Action.EDIT_EVAL_SPEC,
    Action.SIGN_EVAL_SPEC,
    Action.RUN_JOBS,
    Action.RUN_EVALS,
    Action.REQUEST_PROMOTION,
    Action.APPROVE_PRODUCT_TIER,
    Action.REVIEW_ESCALATIONS,
}
_ML_ENGINEER = {
    Action.VIEW,
    Action.MANAGE_DATASETS,
    Action.RUN_JOBS,
    Action.RUN_EVALS,
    Action.REQUEST_PROMOTION,
    Action.APPROVE_ML_TIER,
    Action.PUBLISH_ENDPOINTS,
    Action.REVIEW_ESCALATIONS,
}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(set(Action) - {Action.APPROVE_GOVERNANCE_TIER}),
    Role.PRODUCT_OWNER: frozenset(_PRODUCT_OWNER),
    Role.ML_ENGINEER: frozenset(_ML_ENGINEER),
    Role.VIEWER: frozenset({Action.VIEW}),
}
REVIEWER_ACTIONS = frozenset({Action.VIEW, Action.APPROVE_GOVERNANCE_TIER})


def role_in(user, team) -> str | None:
    """The user's role in `team` (memoised on the user object for the request), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    cache = user.__dict__.setdefault("_studio_roles", {})
    if team.pk not in cache:
        cache[team.pk] = (
            Membership.objects.filter(team_id=team.pk, user_id=user.pk).values_list("role", flat=True).first()
        )
    return cache[team.pk]


def forget_roles(user) -> None:
    user.__dict__.pop("_studio_roles", None)


def can(user, team, action: Action) -> bool:
    role = role_in(user, team)
    allowed = set(ROLE_ACTIONS.get(role, frozenset()))
    if is_governance_reviewer(user):
        allowed |= REVIEWER_ACTIONS
    return action in allowed


def require(user, team, action: Action, *, doing: str = "") -> None:
    """Raise Forbidden (403) when a user who can see `team` may not perform `action` in it. `doing` names
    what was attempted where it is not the action itself (e.g. "write model cards", which those who may
    request promotions do)."""
    if can(user, team, action):
        return
    role = role_in(user, team)
    who = f"Your role ({Role(role).label})" if role else "You"
    raise Forbidden(
        f"{who} cannot {doing or ACTION_LABELS[action]} in team “{team.name}”.",
        code="permission_denied",
        details={"team": team.slug, "action": str(action), "role": role},
    )
