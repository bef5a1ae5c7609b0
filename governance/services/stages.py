"""Stage changes: every move of a model version between stages goes through `stage_set`, which locks the
project's versions, keeps one production (and one staging) version per project, records the history
and the audit event, and tells serving after the commit (`governance.signals.stage_changed`)."""

from __future__ import annotations

import logging
import time

from django.db import transaction

from audit.services import audit_event_record
from governance.choices import PromotionStatus, StageChangeKind
from governance.models import PromotionRequest, StageChange
from governance.services.notifications import notify
from governance.signals import stage_changed
from projects.models import Membership
from projects.roles import Action, require
from studio.errors import Conflict, InvalidInput
from training.choices import Stage
from training.models import ModelVersion

logger = logging.getLogger(__name__)
SINGLE_STAGES = (Stage.STAGING, Stage.PRODUCTION)


def _lock_project_versions(project_id: int) -> dict[int, ModelVersion]:
    """Row locks on every version of the project, in id order (no deadlocks between two promotions)."""
    return {
        version.pk: version
        for version in ModelVersion.objects.select_for_update().filter(project_id=project_id).order_by("pk")
    }


def _move(
    *, version: ModelVersion, to_stage: str, kind: str, actor, promotion=None, reason="", duration_ms=None
):
    from_stage = version.stage
    ModelVersion.objects.filter(pk=version.pk).update(stage=to_stage)
    version.stage = to_stage
    change = StageChange.objects.create(
        project_id=version.project_id,
        model_version=version,
        from_stage=from_stage,
        to_stage=to_stage,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        promotion=promotion,
        reason=reason,
        duration_ms=duration_ms,
    )
    audit_event_record(
        actor=actor,
        action="model_version.stage_change",
        target=version,
        payload={
            "stage": [from_stage, to_stage],
            "kind": kind,
            "promotion": promotion.pk if promotion else None,
            "reason": reason,
        },
    )
    project = version.project

    def send() -> None:
        for receiver, error in stage_changed.send_robust(
            sender=StageChange,
            project=project,
            model_version=version,
            from_stage=from_stage,
            to_stage=to_stage,
            kind=kind,
        ):
            if isinstance(error, Exception):
                logger.error("stage_changed receiver %r failed", receiver, exc_info=error)

    transaction.on_commit(send)
    return change


def stage_set(
    *, version: ModelVersion, to_stage: str, kind: str, actor, promotion=None, reason=""
) -> ModelVersion:
    """Move `version` to `to_stage`; the version that held a single stage (staging, production) before
    goes back to candidate. Call inside the caller's transaction."""
    versions = _lock_project_versions(version.project_id)
    current = versions[version.pk]
    if current.stage == Stage.RETIRED:
        raise Conflict(f"Version {current.number} is retired: it cannot be promoted.", code="version_retired")
    if to_stage in SINGLE_STAGES:
        for other in versions.values():
            if other.pk != current.pk and other.stage == to_stage:
                _move(
                    version=other,
                    to_stage=Stage.CANDIDATE,
                    kind=StageChangeKind.REPLACED,
                    actor=actor,
                    promotion=promotion,
                    reason=f"Replaced by version {current.number}.",
                )
    _move(version=current, to_stage=to_stage, kind=kind, actor=actor, promotion=promotion, reason=reason)
    version.stage = to_stage
    return current


def _previous_holder(project_id: int, stage: str, current: ModelVersion) -> ModelVersion | None:
    """The version that held `stage` before `current` did (the last one to leave it that is not retired)."""
    history = (
        StageChange.objects.filter(project_id=project_id, from_stage=stage)
        .exclude(model_version_id=current.pk)
        .select_related("model_version")
        .order_by("-created_at", "-id")
    )
    for change in history:
        if change.model_version.stage != Stage.RETIRED:
            return change.model_version
    return None


def _team_members(project):
    return [m.user for m in Membership.objects.filter(team_id=project.team_id).select_related("user")]


def _rollback(*, project, user, reason: str, stage: str, kind: str) -> tuple[ModelVersion, ModelVersion, int]:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why you roll back.", details={"reason": ["This field is required."]})
    started = time.perf_counter()
    versions = _lock_project_versions(project.pk)
    current = next((v for v in versions.values() if v.stage == stage), None)
    if current is None:
        raise Conflict(
            f"No version of {project.name} is in {stage}: nothing to roll back.", code="nothing_to_roll_back"
        )
    previous = _previous_holder(project.pk, stage, current)
    if previous is None:
        raise Conflict(
            f"No earlier {stage} version of {project.name} to restore.", code="no_previous_version"
        )
    _move(version=current, to_stage=Stage.CANDIDATE, kind=kind, actor=user, reason=reason)
    elapsed = int((time.perf_counter() - started) * 1000)
    _move(
        version=versions[previous.pk],
        to_stage=stage,
        kind=kind,
        actor=user,
        reason=reason,
        duration_ms=elapsed if kind == StageChangeKind.DRILL else None,
    )
    return current, versions[previous.pk], elapsed


@transaction.atomic
def production_rollback(*, project, user, reason: str) -> ModelVersion:
    """Restore the previous production version; the rolled-back one returns to candidate. Audited, and
    the team is told."""
    require(user, project.team, Action.REQUEST_PROMOTION)
    current, restored, _ = _rollback(
        project=project, user=user, reason=reason, stage=Stage.PRODUCTION, kind=StageChangeKind.ROLLBACK
    )
    audit_event_record(
        actor=user,
        action="model_version.rollback",
        target=restored,
        payload={"from": current.pk, "to": restored.pk, "reason": reason},
    )
    notify(
        recipients=_team_members(project),
        subject=f"{project.name}: production rolled back to version {restored.number}",
        body=f"{user.get_username()} rolled back version {current.number}: {reason}",
    )
    return restored


@transaction.atomic
def staging_rollback_drill(*, project, user) -> StageChange:
    """Practise a rollback on staging: the previous staging version is restored exactly as a production
    rollback would do it, and the time it took is recorded on the stage history."""
    require(user, project.team, Action.REQUEST_PROMOTION)
    current, restored, elapsed = _rollback(
        project=project, user=user, reason="Rollback drill", stage=Stage.STAGING, kind=StageChangeKind.DRILL
    )
    audit_event_record(
        actor=user,
        action="model_version.rollback_drill",
        target=restored,
        payload={"from": current.pk, "to": restored.pk, "duration_ms": elapsed},
    )
    return StageChange.objects.filter(model_version=restored, kind=StageChangeKind.DRILL).latest("created_at")


@transaction.atomic
def model_version_retire(*, version: ModelVersion, user, reason: str = "") -> ModelVersion:
    """Retire a version: it can never be promoted again (its artifacts stay until retention allows deletion).
    Its pending promotion requests are withdrawn."""
    require(user, version.project.team, Action.REQUEST_PROMOTION)
    versions = _lock_project_versions(version.project_id)
    current = versions[version.pk]
    if current.stage == Stage.RETIRED:
        raise Conflict(f"Version {current.number} is already retired.", code="version_retired")
    if current.stage == Stage.PRODUCTION:
        raise Conflict(
            "The production version cannot be retired: roll back or promote another version first.",
            code="version_in_production",
        )
    pending = PromotionRequest.objects.select_for_update().filter(
        model_version=current, status=PromotionStatus.PENDING
    )
    for promotion in pending:
        promotion.status = PromotionStatus.WITHDRAWN
        promotion.decision_comment = "The version was retired."
        promotion.decided_by = user
        promotion.save(update_fields=["status", "decision_comment", "decided_by", "updated_at"])
        audit_event_record(
            actor=user, action="promotion.withdraw", target=promotion, payload={"reason": "retired"}
        )
    _move(version=current, to_stage=Stage.RETIRED, kind=StageChangeKind.RETIRE, actor=user, reason=reason)
    version.stage = Stage.RETIRED
    return current
