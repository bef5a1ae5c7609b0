"""Promotion requests: create (evidence, tier, risk acceptance), approve (four-eyes, exactly once),
reject, withdraw, and the evidence refresh that voids approvals when a newer run or spec appears."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event_record
from governance import evidence as evidence_module
from governance import selectors, tiers
from governance.choices import PromotionStatus, StageChangeKind, TargetStage
from governance.models import Approval, PromotionRequest
from governance.services.cards import model_card_refresh, model_card_summary
from governance.services.notifications import notify, promotion_url
from governance.services.stages import stage_set
from projects.roles import Action, can, require
from studio.errors import Conflict, Forbidden, InvalidInput
from training.choices import Stage
from training.models import ModelVersion

MAX_COMMENT = 2000


def _risk_acceptance(raw: dict | None, failing: list[str]) -> dict | None:
    """Validate a risk acceptance against the failing gates: every one named, a reason, a future date."""
    if not raw:
        return None
    gates = [str(gate) for gate in raw.get("gates") or []]
    reason = str(raw.get("reason") or "").strip()
    until = raw.get("until")
    errors: dict[str, list[str]] = {}
    if not failing:
        errors["risk_acceptance"] = ["Every gate passes: there is no risk to accept."]
    missing = [gate for gate in failing if gate not in gates]
    if failing and missing:
        errors["gates"] = [f"Name every failing gate; missing: {', '.join(missing)}."]
    if not reason:
        errors["reason"] = ["Say why the risk is accepted."]
    if isinstance(until, datetime):
        until = until.date()
    elif isinstance(until, str):
        try:
            until = date.fromisoformat(until[:10])
        except ValueError:
            errors["until"] = ["A date (YYYY-MM-DD)."]
            until = None
    if not isinstance(until, date):
        errors.setdefault("until", ["Say until when the risk is accepted."])
    elif until <= timezone.localdate():
        errors["until"] = ["The acceptance must run until a future date."]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], code="invalid_risk_acceptance", details=errors)
    return {
        "gates": sorted(set(gates) & set(failing)),
        "reason": reason[:MAX_COMMENT],
        "until": until.isoformat(),
    }


def _assess(*, user, version: ModelVersion, risk_acceptance: dict | None):
    """Evidence, validated risk acceptance, change facts and tier decision of promoting `version` now."""
    production = selectors.production_version(version.project)
    evidence = evidence_module.evidence_collect(user=user, version=version, production=production)
    failing = evidence_module.failing_gates(evidence)
    accepted = _risk_acceptance(risk_acceptance, failing)
    if failing and accepted is None:
        raise Conflict(
            "Gates fail: " + "; ".join(failing) + ". Fix them, or record a risk acceptance.",
            code="gates_failed",
            details={"failing_gates": failing},
        )
    change = evidence_module.change_between(version, production, evidence, risk_accepted=accepted is not None)
    evidence["model_card"] = model_card_summary(version)
    return production, evidence, accepted, change, tiers.compute_tier(change)


@transaction.atomic
def promotion_request_create(
    *,
    user,
    model_version: ModelVersion,
    target_stage: str,
    reason: str = "",
    risk_acceptance: dict | None = None,
) -> PromotionRequest:
    """Request `model_version`'s move to staging or production. Tier 0 is approved by the policy at once."""
    project = model_version.project
    require(user, project.team, Action.REQUEST_PROMOTION)
    if target_stage not in TargetStage.values:
        raise InvalidInput("Ask for staging or production.", details={"target_stage": ["Not a stage."]})
    if model_version.stage == Stage.RETIRED:
        raise Conflict(
            f"Version {model_version.number} is retired: it cannot be promoted.", code="version_retired"
        )
    if model_version.stage == target_stage:
        raise Conflict(
            f"Version {model_version.number} is already in {target_stage}.", code="already_in_stage"
        )
    if PromotionRequest.objects.filter(
        model_version=model_version, target_stage=target_stage, status=PromotionStatus.PENDING
    ).exists():
        raise Conflict("This version already has a pending request for that stage.", code="already_requested")
    production, evidence, accepted, change, decision = _assess(
        user=user, version=model_version, risk_acceptance=risk_acceptance
    )
    policy = selectors.tier_policy_effective(project.team)
    required = list(policy.required_roles(decision.tier))
    promotion = PromotionRequest(
        project=project,
        model_version=model_version,
        target_stage=target_stage,
        requested_by=user,
        reason=(reason or "").strip()[:MAX_COMMENT],
        tier=decision.tier,
        tier_reasons=list(decision.reasons),
        change=asdict(change),
        required_roles=required,
        evidence=evidence,
        evidence_key=evidence["key"],
        risk_acceptance=accepted,
        previous_production=production,
    )
    promotion.full_clean()
    try:
        with transaction.atomic():
            promotion.save()
    except IntegrityError as error:  # a simultaneous identical request won the race
        raise Conflict(
            "This version already has a pending request for that stage.", code="already_requested"
        ) from error
    audit_event_record(
        actor=user,
        action="promotion.request",
        target=promotion,
        payload={
            "model_version": model_version.pk,
            "target_stage": target_stage,
            "tier": decision.tier,
            "required_roles": required,
            "eval_run": evidence["eval_run"]["id"],
            "risk_acceptance": accepted,
        },
    )
    if not required:
        _finalise(promotion, actor=user, comment="Approved by the tier policy (tier 0).")
        audit_event_record(actor=user, action="promotion.auto_approve", target=promotion, payload={"tier": 0})
    else:
        _notify_approvers(promotion)
    return promotion


def _notify_approvers(promotion: PromotionRequest) -> None:
    people = {}
    for role in promotion.missing_roles():
        for person in selectors.eligible_approvers(promotion, role):
            people[person.pk] = person
    version = promotion.model_version
    notify(
        recipients=people.values(),
        subject=f"Approve: {promotion.project.name} v{version.number} → {promotion.target_stage} "
        f"(tier {promotion.tier})",
        body=f"{promotion.requested_by.get_username()} asks to promote version {version.number}. "
        f"Waiting for: {', '.join(promotion.missing_role_labels())}.",
        url=promotion_url(promotion),
        promotion=promotion,
    )


def _finalise(promotion: PromotionRequest, *, actor, comment: str = "") -> None:
    stage_set(
        version=promotion.model_version,
        to_stage=promotion.target_stage,
        kind=StageChangeKind.PROMOTION,
        actor=actor,
        promotion=promotion,
        reason=promotion.reason,
    )
    promotion.status = PromotionStatus.APPROVED
    promotion.decided_by = actor
    promotion.decided_at = timezone.now()
    promotion.decision_comment = comment
    promotion.save(update_fields=["status", "decided_by", "decided_at", "decision_comment", "updated_at"])
    audit_event_record(
        actor=actor,
        action="promotion.approved",
        target=promotion,
        payload={"stage": promotion.target_stage, "model_version": promotion.model_version_id},
    )
    model_card_refresh(promotion.model_version)
    notify(
        recipients=[promotion.requested_by],
        subject=f"Approved: {promotion.project.name} v{promotion.model_version.number} "
        f"is in {promotion.target_stage}",
        url=promotion_url(promotion),
        promotion=promotion,
    )


def _locked(promotion: PromotionRequest) -> PromotionRequest:
    """The request re-read under a row lock: of two simultaneous decisions the second sees the first's."""
    return (
        PromotionRequest.objects.select_for_update()
        .select_related("project__team", "model_version")
        .get(pk=promotion.pk)
    )


def _require_pending(promotion: PromotionRequest) -> None:
    if not promotion.is_pending:
        raise Conflict(
            f"This request is already {promotion.get_status_display().lower()}.", code="not_pending"
        )


@transaction.atomic
def promotion_evidence_refresh(*, promotion: PromotionRequest, user) -> bool:
    """When a newer eval run or spec version exists, take new evidence and void the approvals given on the
    old one. Returns whether the evidence changed. The requester and anyone who may review it may ask."""
    promotion = _locked(promotion)
    team = promotion.project.team
    if user.pk != promotion.requested_by_id and not (
        can(user, team, Action.REQUEST_PROMOTION)
        or any(selectors.can_act_as(user, promotion, role) for role in promotion.required_roles)
    ):
        raise Forbidden("Your role cannot review this request.", code="cannot_approve")
    _require_pending(promotion)
    version = promotion.model_version
    if evidence_module.current_evidence_key(version) == promotion.evidence_key:
        return False
    voided = 0
    for approval in promotion.approvals.filter(voided_at__isnull=True):
        approval.voided_at = timezone.now()
        approval.void_reason = "The evidence changed before the final approval."
        approval.save(update_fields=["voided_at", "void_reason", "updated_at"])
        voided += 1
    production = selectors.production_version(version.project)
    try:
        new = evidence_module.evidence_collect(user=user, version=version, production=production)
    except Conflict:  # no run against the newest signed spec yet: the request waits for one
        new = {**promotion.evidence, "key": evidence_module.current_evidence_key(version), "stale": True}
    else:
        new["model_card"] = model_card_summary(version)
        change = evidence_module.change_between(
            version, production, new, risk_accepted=promotion.risk_acceptance is not None
        )
        decision = tiers.compute_tier(change)
        promotion.tier, promotion.tier_reasons, promotion.change = (
            decision.tier,
            list(decision.reasons),
            asdict(change),
        )
        promotion.required_roles = list(
            selectors.tier_policy_effective(promotion.project.team).required_roles(decision.tier)
        )
    promotion.evidence, promotion.evidence_key = new, new["key"]
    promotion.previous_production = production
    promotion.save()
    audit_event_record(
        actor=user,
        action="promotion.evidence_refresh",
        target=promotion,
        payload={"approvals_voided": voided, "eval_run": new["eval_run"]["id"], "tier": promotion.tier},
    )
    return True


def promotion_approve(
    *, promotion: PromotionRequest, user, role: str | None = None, comment: str = ""
) -> PromotionRequest:
    """Approve in one role. Refused for the requester, for a second role of the same person, and while
    the evidence is stale (a newer eval run or spec version: `promotion_evidence_refresh` takes the new
    evidence and voids the approvals given on the old); the last required approval promotes, once."""
    return _approve(promotion=promotion, user=user, role=role, comment=comment)


def _check_approver(promotion: PromotionRequest, user, role: str | None) -> str:
    """The role `user` approves in, or why they cannot (the requester, a second role, a role not needed)."""
    _require_pending(promotion)
    if user.pk == promotion.requested_by_id:
        raise Forbidden("You requested this promotion: someone else must approve it.", code="self_approval")
    if promotion.approvals.filter(voided_at__isnull=True, approver=user).exists():
        raise Conflict(
            "You already approved this request: each role needs a different person.", code="already_approved"
        )
    can_fill = selectors.roles_user_can_fill(user, promotion)
    if role is not None and role not in promotion.missing_roles():
        raise Conflict(f"No {tiers.role_label(role)} approval is needed.", code="role_not_needed")
    chosen = role if role is not None else (can_fill[0] if can_fill else None)
    if chosen is None or chosen not in can_fill:
        raise Forbidden(
            "Your role cannot give any of the approvals this request still needs.",
            code="cannot_approve",
            details={"missing_roles": promotion.missing_roles()},
        )
    return chosen


@transaction.atomic
def _approve(*, promotion: PromotionRequest, user, role: str | None, comment: str) -> PromotionRequest:
    promotion = _locked(promotion)
    chosen = _check_approver(promotion, user, role)
    if evidence_module.current_evidence_key(promotion.model_version) != promotion.evidence_key:
        raise Conflict(
            "The evidence changed since the request was made (a newer eval run or spec version): refresh it, "
            "which voids the approvals given so far, review it and approve again.",
            code="evidence_stale",
        )
    if promotion.evidence.get("stale"):
        raise Conflict(
            "No eval run against the current signed spec yet: run it first.", code="evaluation_required"
        )
    if evidence_module.failing_gates(promotion.evidence) and not promotion.risk_acceptance:
        raise Conflict("Gates fail and no risk was accepted.", code="gates_failed")
    try:
        with transaction.atomic():
            Approval.objects.create(
                promotion=promotion, approver=user, role=chosen, comment=(comment or "")[:MAX_COMMENT]
            )
    except IntegrityError as error:
        raise Conflict("This role has already approved.", code="already_approved") from error
    audit_event_record(actor=user, action="promotion.approve", target=promotion, payload={"role": chosen})
    if not promotion.missing_roles():
        _finalise(promotion, actor=user)
    return promotion


@transaction.atomic
def promotion_reject(*, promotion: PromotionRequest, user, comment: str) -> PromotionRequest:
    """Any approver of a missing role rejects with a comment; the request ends."""
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("Say why you reject it.", details={"comment": ["This field is required."]})
    promotion = _locked(promotion)
    _require_pending(promotion)
    if user.pk == promotion.requested_by_id:
        raise Forbidden("You requested this promotion: withdraw it instead.", code="self_approval")
    if not any(selectors.can_act_as(user, promotion, role) for role in promotion.required_roles):
        raise Forbidden("Your role cannot review this request.", code="cannot_approve")
    promotion.status = PromotionStatus.REJECTED
    promotion.decided_by, promotion.decided_at = user, timezone.now()
    promotion.decision_comment = comment[:MAX_COMMENT]
    promotion.save(update_fields=["status", "decided_by", "decided_at", "decision_comment", "updated_at"])
    audit_event_record(
        actor=user, action="promotion.reject", target=promotion, payload={"comment": comment[:500]}
    )
    notify(
        recipients=[promotion.requested_by],
        subject=f"Rejected: {promotion.project.name} v{promotion.model_version.number} "
        f"→ {promotion.target_stage}",
        body=f"{user.get_username()}: {comment}",
        url=promotion_url(promotion),
        promotion=promotion,
    )
    return promotion


@transaction.atomic
def promotion_withdraw(*, promotion: PromotionRequest, user) -> PromotionRequest:
    """The requester (or a team owner) takes a pending request back."""
    promotion = _locked(promotion)
    if user.pk != promotion.requested_by_id:
        require(user, promotion.project.team, Action.MANAGE_TEAM)
    _require_pending(promotion)
    promotion.status = PromotionStatus.WITHDRAWN
    promotion.decided_by, promotion.decided_at = user, timezone.now()
    promotion.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_event_record(actor=user, action="promotion.withdraw", target=promotion)
    return promotion
