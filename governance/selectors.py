"""Governance reads: the production version of a project, tier policies, promotions, inbox, model cards."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet

from governance import tiers
from governance.choices import ApproverRole, PromotionStatus
from governance.models import Approval, ModelCard, Notification, PromotionRequest, StageChange, TierPolicy
from projects.choices import Role
from projects.models import Membership, Project
from projects.roles import ROLE_ACTIONS, Action, can
from studio.tenancy import REVIEWER_GROUP, get_for_user, is_governance_reviewer
from training.choices import Stage
from training.models import ModelVersion

ROLE_ACTION = {
    ApproverRole.ML_ENGINEER: Action.APPROVE_ML_TIER,
    ApproverRole.PRODUCT_OWNER: Action.APPROVE_PRODUCT_TIER,
    ApproverRole.GOVERNANCE_REVIEWER: Action.APPROVE_GOVERNANCE_TIER,
}


def production_version(project: Project) -> ModelVersion | None:
    """The one version of `project` in production, or None. (Serving reads this; no user: it is the
    project's fact, and the caller already holds the project.)"""
    return (
        ModelVersion.objects.filter(project=project, stage=Stage.PRODUCTION)
        .select_related("base_model")
        .first()
    )


def staging_version(project: Project) -> ModelVersion | None:
    return (
        ModelVersion.objects.filter(project=project, stage=Stage.STAGING).select_related("base_model").first()
    )


def tier_policy_global() -> tiers.Policy:
    row = TierPolicy.objects.filter(team__isnull=True).first()
    return row.as_policy() if row else tiers.GLOBAL_DEFAULT


def tier_policy_team_own(team) -> tiers.Policy | None:
    row = TierPolicy.objects.filter(team=team).first()
    return row.as_policy() if row else None


def tier_policy_effective(team) -> tiers.Policy:
    """The global policy made stricter by the team's own, never looser (`tiers.policy_for_team`)."""
    return tiers.policy_for_team(tier_policy_global(), tier_policy_team_own(team))


def _with_approvals(queryset: QuerySet[PromotionRequest]) -> QuerySet[PromotionRequest]:
    return queryset.select_related(
        "project__team", "model_version__base_model", "requested_by", "decided_by", "previous_production"
    ).prefetch_related(Prefetch("approvals", queryset=Approval.objects.select_related("approver")))


def promotion_list(*, user, project: Project | None = None) -> QuerySet[PromotionRequest]:
    queryset = PromotionRequest.objects.for_user(user)
    if project is not None:
        queryset = queryset.filter(project=project)
    return _with_approvals(queryset)


def promotion_get(*, user, pk) -> PromotionRequest:
    return get_for_user(_with_approvals(PromotionRequest.objects.all()), user, pk=pk)


def roles_user_can_fill(user, promotion: PromotionRequest) -> list[str]:
    """The still-missing roles of a pending request that `user` may fill (never the requester's, never a
    second role for someone who already approved)."""
    if not promotion.is_pending or user.pk == promotion.requested_by_id:
        return []
    if any(approval.approver_id == user.pk for approval in promotion.active_approvals()):
        return []
    team = promotion.project.team
    return [role for role in promotion.missing_roles() if can(user, team, ROLE_ACTION[role])]


def eligible_approvers(promotion: PromotionRequest, role: str) -> QuerySet:
    """Everyone who may fill `role` on `promotion` (the requester excluded)."""
    User = get_user_model()
    action = ROLE_ACTION[role]
    if role == ApproverRole.GOVERNANCE_REVIEWER:
        users = User.objects.filter(groups__name=REVIEWER_GROUP, is_active=True)
    else:
        team_roles = [r for r in Role if action in ROLE_ACTIONS.get(r, frozenset())]
        users = User.objects.filter(
            pk__in=Membership.objects.filter(team_id=promotion.project.team_id, role__in=team_roles).values(
                "user_id"
            ),
            is_active=True,
        )
    return users.exclude(pk=promotion.requested_by_id).distinct()


def inbox_promotions(*, user) -> list[PromotionRequest]:
    """Pending requests `user` can act on now."""
    pending = promotion_list(user=user).filter(status=PromotionStatus.PENDING)
    return [promotion for promotion in pending if roles_user_can_fill(user, promotion)]


def notification_list(*, user) -> QuerySet[Notification]:
    return Notification.objects.for_user(user)


def stage_history(*, user, model_version: ModelVersion) -> QuerySet[StageChange]:
    return (
        StageChange.objects.for_user(user)
        .filter(model_version=model_version)
        .select_related("actor", "promotion")
    )


def model_card_for(model_version: ModelVersion) -> ModelCard | None:
    return ModelCard.objects.filter(model_version=model_version).first()


def reviewer_sees_all(user) -> bool:
    return is_governance_reviewer(user)


def can_act_as(user, promotion: PromotionRequest, role: str) -> bool:
    return can(user, promotion.project.team, ROLE_ACTION[role])


def project_stage_history(*, user, project: Project) -> QuerySet[StageChange]:
    return (
        StageChange.objects.for_user(user)
        .filter(project=project)
        .select_related("actor", "model_version", "promotion")
    )
