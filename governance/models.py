"""Tier policies, promotion requests and their approvals, stage history, model cards and notifications."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from governance import tiers
from governance.choices import (
    ApproverRole,
    ModelCardStatus,
    PromotionStatus,
    StageChangeKind,
    TargetStage,
)
from studio.models import TeamOwnedModel, TimeStampedModel
from training.choices import Stage


class TierPolicyQuerySet(models.QuerySet):
    def for_user(self, user) -> TierPolicyQuerySet:
        """The global policy for everyone signed in; a team's own policy for who sees that team."""
        from studio.tenancy import member_team_ids, sees_every_team

        if not getattr(user, "is_authenticated", False):
            return self.none()
        if sees_every_team(user):
            return self.all()
        return self.filter(models.Q(team__isnull=True) | models.Q(team_id__in=member_team_ids(user)))


class TierPolicy(TimeStampedModel):
    """Who approves each tier: the global policy (no team, set by staff) or a team's stricter additions."""

    team = models.OneToOneField(
        "projects.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="tier_policy"
    )
    roles = models.JSONField(help_text='{"0": [], "1": ["ml_engineer"], …}: the approver roles per tier.')
    automatic_tier0 = models.BooleanField(default=True, help_text="Tier 0 is approved by the policy itself.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TierPolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "tier policies"
        constraints = [
            models.UniqueConstraint(
                fields=["team"],
                nulls_distinct=False,
                name="tier_policy_one_per_team",
                violation_error_message="There is already a policy for this team.",
            )
        ]

    def __str__(self) -> str:
        return f"Tier policy of {self.team}" if self.team_id else "Global tier policy"

    def as_policy(self) -> tiers.Policy:
        return tiers.Policy(
            roles={int(tier): tuple(roles) for tier, roles in self.roles.items()},
            automatic_tier0=self.automatic_tier0,
        )


class PromotionRequest(TeamOwnedModel):
    """A request to move a model version to staging or production: pending → approved | rejected |
    withdrawn. Its tier is computed from what changed; its evidence is a snapshot taken when it was made
    (and refreshed, voiding approvals, when a newer eval run or spec version appears)."""

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="promotions")
    model_version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.PROTECT, related_name="promotions"
    )
    target_stage = models.CharField(max_length=20, choices=TargetStage.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=PromotionStatus.choices, default=PromotionStatus.PENDING, db_index=True
    )
    tier = models.PositiveSmallIntegerField()
    tier_reasons = models.JSONField(default=list, blank=True)
    change = models.JSONField(default=dict, help_text="The facts the tier was computed from.")
    required_roles = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=dict)
    evidence_key = models.CharField(
        max_length=64,
        help_text="Which eval run and spec version the evidence holds (stale when they change).",
    )
    risk_acceptance = models.JSONField(null=True, blank=True, help_text="{gates, reason, until}")
    previous_production = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "target_stage"],
                condition=models.Q(status="pending"),
                name="promotion_one_pending_per_version_and_stage",
                violation_error_message="This version already has a pending request for that stage.",
            ),
            models.CheckConstraint(
                condition=models.Q(tier__lte=tiers.MAX_TIER),
                name="promotion_tier_at_most_3",
                violation_error_message="Tiers go from 0 to 3.",
            ),
        ]

    def __str__(self) -> str:
        return f"Promotion #{self.pk}: {self.model_version} → {self.target_stage}"

    @property
    def status_choice(self) -> PromotionStatus:
        return PromotionStatus(self.status)

    @property
    def is_pending(self) -> bool:
        return self.status == PromotionStatus.PENDING

    def active_approvals(self):
        return [approval for approval in self.approvals.all() if approval.voided_at is None]

    def missing_roles(self) -> list[str]:
        filled = {approval.role for approval in self.active_approvals()}
        return [role for role in self.required_roles if role not in filled]

    def missing_role_labels(self) -> list[str]:
        """The roles still to approve, as people read them ("ML engineer")."""
        return [tiers.role_label(role) for role in self.missing_roles()]

    def approval_outcome(self) -> str:
        """What an approver is told once their approval is recorded: the promotion made, or how many of
        the required approvals are in and whose are still missing."""
        if self.status == PromotionStatus.APPROVED:
            return (
                f"Approved: {self.model_version.label} is now in {self.get_target_stage_display().lower()}."
            )
        given = len(self.required_roles) - len(self.missing_roles())
        return (
            f"Your approval is recorded ({given} of {len(self.required_roles)}). "
            f"Still waiting for: {', '.join(self.missing_role_labels())}."
        )


class Approval(TimeStampedModel):
    """One person's approval of a request, in one role; voided (kept, not deleted) if the evidence changes."""

    promotion = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=30, choices=ApproverRole.choices)
    comment = models.TextField(blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["promotion", "approver"],
                condition=models.Q(voided_at__isnull=True),
                name="approval_one_role_per_person",
                violation_error_message="One person fills one role of a request.",
            ),
            models.UniqueConstraint(
                fields=["promotion", "role"],
                condition=models.Q(voided_at__isnull=True),
                name="approval_one_person_per_role",
                violation_error_message="This role has already approved.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver} as {self.get_role_display()}"


class StageChange(TeamOwnedModel):
    """One line of a model version's stage history."""

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="stage_changes")
    model_version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.PROTECT, related_name="stage_changes"
    )
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    kind = models.CharField(max_length=20, choices=StageChangeKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    promotion = models.ForeignKey(
        PromotionRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="stage_changes"
    )
    reason = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rollback drills: how long it took."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_version}: {self.from_stage} → {self.to_stage}"


class ModelCard(TeamOwnedModel):
    """The model card of one version: generated sections plus the team's own words; draft → in review →
    approved (an edit after approval returns it to draft)."""

    team_path = "model_version__project__team"

    model_version = models.OneToOneField(
        "training.ModelVersion", on_delete=models.PROTECT, related_name="card"
    )
    status = models.CharField(max_length=20, choices=ModelCardStatus.choices, default=ModelCardStatus.DRAFT)
    intended_use = models.TextField(blank=True)
    limitations = models.TextField(blank=True, help_text="Known weaknesses and what the model must not do.")
    generated = models.JSONField(default=dict, help_text="Sections built from the studio's records.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Model card of {self.model_version}"

    @property
    def status_choice(self) -> ModelCardStatus:
        return ModelCardStatus(self.status)


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user) -> NotificationQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(recipient_id=user.pk)


class Notification(models.Model):
    """A line in someone's inbox (also sent by e-mail): a request to act on, or news about a model."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    promotion = models.ForeignKey(
        PromotionRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject
