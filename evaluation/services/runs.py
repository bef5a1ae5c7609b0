"""Eval runs as users drive them: start one (a signed spec only), cancel one."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from evaluation.choices import TERMINAL_STATUSES, RunStatus
from evaluation.models import EvalRun, EvalSpec
from projects.roles import Action, require
from studio import leases
from studio.errors import Conflict, InvalidInput
from training.choices import ModelVersionKind
from training.models import ModelVersion


def eval_run_enqueue(run: EvalRun) -> None:
    """Send the run to the evaluation queue once the current transaction commits."""
    from evaluation.tasks import eval_run_execute

    leases.send_on_commit(eval_run_execute, run.pk)


@transaction.atomic
def eval_run_create(*, user, model_version: ModelVersion, spec: EvalSpec) -> EvalRun:
    """Queue an evaluation of `model_version` against `spec`, which must be signed: only a signed spec's
    verdicts can gate a promotion, so only a signed spec runs."""
    require(user, model_version.project.team, Action.RUN_EVALS)
    if spec.project_id != model_version.project_id:
        raise InvalidInput(
            "The eval spec belongs to another project than the model version.",
            details={"spec": ["Choose a spec of the model version's project."]},
        )
    if not spec.is_signed:
        raise Conflict(
            f"Eval spec v{spec.version} is not signed; a product owner signs it before it can run.",
            code="spec_unsigned",
            details={"spec": spec.pk},
        )
    if model_version.kind == ModelVersionKind.FINE_TUNED and not model_version.storage_name:
        raise Conflict("This model version has no stored weights to evaluate.", code="no_artifacts")
    run = EvalRun(
        project_id=spec.project_id,
        spec=spec,
        model_version=model_version,
        created_by=user,
        max_attempts=settings.STUDIO_EVALUATION_MAX_ATTEMPTS,
    )
    run.full_clean()
    run.save()
    audit_event_record(
        actor=user,
        action="eval_run.create",
        target=run,
        payload={
            "model_version": model_version.number,
            "spec_version": spec.version,
            "spec_sha256": spec.sha256,
        },
    )
    eval_run_enqueue(run)
    return run


@transaction.atomic
def eval_run_cancel(*, run: EvalRun, user) -> EvalRun:
    """Queued runs stop at once; running ones stop after their current batch (the worker confirms)."""
    require(user, run.project.team, Action.RUN_EVALS)
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.status in TERMINAL_STATUSES:
        raise Conflict(
            f"The run has already {run.status}.", code="run_finished", details={"status": run.status}
        )
    now = timezone.now()
    if run.cancel_requested_at is None:
        run.cancel_requested_at = now
    if run.status == RunStatus.QUEUED:
        run.status, run.finished_at = RunStatus.CANCELLED, now
    run.save(update_fields=["cancel_requested_at", "status", "finished_at", "updated_at"])
    audit_event_record(actor=user, action="eval_run.cancel", target=run, payload={"status": run.status})
    return run
