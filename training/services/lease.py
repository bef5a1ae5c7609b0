"""The worker's side of a training job: every write a worker makes, each checked against its lease.

A running job belongs to the worker holding its lease (`studio.leases`). Each service here writes only
while the calling worker still holds it, in one transaction with its event rows, and answers False (or
None) otherwise: a worker whose job was taken over by another worker, or settled, changes nothing and
stops. Any worker's reaper puts a job whose lease lapsed back in the queue, resuming from its last
checkpoint, until its attempts run out.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_event_record
from studio import leases
from training.choices import EventLevel, JobStatus
from training.models import ModelVersion, TrainingJob, TrainingMetricPoint
from training.services.jobs import training_job_enqueue, training_job_event
from training.services.model_versions import model_version_register


def _renew(job_id: int, worker: str, **fields) -> bool:
    return leases.lease_renew(
        TrainingJob.objects,
        pk=job_id,
        worker=worker,
        seconds=settings.STUDIO_TRAINING_LEASE_SECONDS,
        **fields,
    )


def training_job_claim(*, job_id: int, worker: str) -> TrainingJob | None:
    """Take the job's lease if it is queued (or its lease has lapsed). None when it is not ours to run."""
    with transaction.atomic():
        if not leases.lease_start(
            TrainingJob.objects,
            pk=job_id,
            worker=worker,
            seconds=settings.STUDIO_TRAINING_LEASE_SECONDS,
            on_cancelled=lambda job: _settle(
                job_id, JobStatus.CANCELLED, guard=Q(), message="Cancelled before it started"
            ),
            on_exhausted=lambda job: _fail_exhausted(job, guard=Q()),
            on_started=lambda job: _attempt_started(job, worker),
        ):
            return None
        # Read inside the claim's transaction: a connection lost here undoes the claim, so a retry is safe.
        return TrainingJob.objects.select_related(
            "project", "dataset_version__dataset", "base_model", "charter"
        ).get(pk=job_id)


def _attempt_started(job: TrainingJob, worker: str) -> None:
    job.refresh_from_db(fields=["attempt"])
    training_job_event(
        job.pk, EventLevel.INFO, f"Attempt {job.attempt} of {job.max_attempts} started", {"worker": worker}
    )


def training_job_heartbeat(*, job_id: int, worker: str) -> bool:
    """Renew the lease. False when it is no longer this worker's."""
    return _renew(job_id, worker)


@transaction.atomic
def training_job_record_progress(*, job_id: int, worker: str, step: int, **progress) -> bool:
    """Store the job's progress and a point of its train-loss curve, renewing the lease."""
    if not _renew(job_id, worker, step=step, **progress):
        return False
    TrainingMetricPoint.objects.create(
        job_id=job_id, step=step, train_loss=progress["train_loss"], learning_rate=progress["learning_rate"]
    )
    return True


@transaction.atomic
def training_job_record_evaluation(
    *, job_id: int, worker: str, step: int, val_loss: float, metrics: dict
) -> bool:
    """Store a validation result: on the job, as a curve point and as an event."""
    if not _renew(job_id, worker, val_loss=val_loss, metrics=metrics):
        return False
    TrainingMetricPoint.objects.create(job_id=job_id, step=step, val_loss=val_loss, metrics=metrics)
    shown = ", ".join(
        f"{key} {value}" if isinstance(value, int) else f"{key} {value:.3f}"
        for key, value in metrics.items()
        if isinstance(value, int | float)
    )
    training_job_event(
        job_id,
        EventLevel.INFO,
        f"Step {step}: validation loss {val_loss:.4f}" + (f", {shown}" if shown else ""),
        {"step": step, "val_loss": val_loss, **metrics},
    )
    return True


@transaction.atomic
def training_job_record_checkpoint(*, job_id: int, worker: str, step: int) -> bool:
    """Note the step of the checkpoint a resumed attempt will start from."""
    if not _renew(job_id, worker, last_checkpoint_step=step):
        return False
    training_job_event(job_id, EventLevel.INFO, f"Checkpoint saved at step {step}", {"step": step})
    return True


@transaction.atomic
def training_job_record_event(
    *, job_id: int, worker: str, level: str, message: str, data: dict | None = None
) -> bool:
    """An event the engine reports while running (a warning about truncated rows, a resume…)."""
    if not _renew(job_id, worker):
        return False
    training_job_event(job_id, level if level in EventLevel.values else EventLevel.INFO, message, data)
    return True


@transaction.atomic
def training_job_save_resolved_hyperparameters(
    *, job_id: int, worker: str, hyperparameters: dict, device: str, preset: str
) -> bool:
    """Replace a preset job's hyperparameters by the preset resolved for this worker's device."""
    with transaction.atomic():
        if not _renew(job_id, worker, hyperparameters=hyperparameters):
            return False
        training_job_event(
            job_id, EventLevel.INFO, f"Preset “{preset}” resolved for {device}", hyperparameters
        )
    return True


def cancel_requested(job_id: int) -> bool:
    return TrainingJob.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


def _settle(job_id: int, status: str, *, guard: Q, message: str, level=EventLevel.INFO, **fields) -> bool:
    """Settle the job (see `studio.leases.lease_settle`) with its event and audit record, or do nothing."""
    with transaction.atomic():
        if not leases.lease_settle(TrainingJob.objects, pk=job_id, status=status, guard=guard, **fields):
            return False
        _record_outcome(job_id, status, message, level, fields)
    return True


def _record_outcome(job_id: int, status: str, message: str, level: str, fields: dict) -> None:
    shown = {key: value for key, value in fields.items() if key not in ("failure_traceback", "hardware")}
    training_job_event(job_id, level, message, shown)
    job = TrainingJob.objects.select_related("project__team").get(pk=job_id)
    audit_event_record(actor=None, action=f"training_job.{status}", target=job, payload={"message": message})


def training_job_mark_cancelled(*, job_id: int, worker: str) -> bool:
    return _settle(job_id, JobStatus.CANCELLED, guard=leases.held_by(worker), message="Cancelled by request")


def training_job_fail(*, job_id: int, worker: str, reason: str, hint: str = "", traceback: str = "") -> bool:
    """Fail the job this worker runs, with a plain reason and a hint."""
    return _fail(job_id, guard=leases.held_by(worker), reason=reason, hint=hint, traceback=traceback)


def _fail(job_id: int, *, guard: Q, reason: str, hint: str = "", traceback: str = "") -> bool:
    return _settle(
        job_id,
        JobStatus.FAILED,
        guard=guard,
        message=f"Failed: {reason}",
        level=EventLevel.ERROR,
        failure_reason=reason[:300],
        failure_hint=hint[:300],
        failure_traceback=traceback,
    )


def _fail_exhausted(job: TrainingJob, *, guard: Q) -> None:
    _fail(
        job.pk,
        guard=guard,
        reason=f"The worker running this job was lost {job.attempt} times (limit {job.max_attempts}).",
        hint="Workers killed for memory are the usual cause: lower the batch size or max sequence length.",
    )


def _requeued(job: TrainingJob) -> None:
    resume = f" from the checkpoint at step {job.last_checkpoint_step}" if job.last_checkpoint_step else ""
    training_job_event(
        job.pk,
        EventLevel.WARNING,
        f"Worker lost (last heartbeat {job.heartbeat_at:%H:%M:%S} UTC); requeued{resume}",
        {"previous_worker": job.lease_owner, "attempt": job.attempt},
    )
    training_job_enqueue(job)


def training_jobs_redispatch_waiting() -> list[int]:
    """Send again every job queued for longer than STUDIO_REDISPATCH_SECONDS (its message may be lost)."""
    return leases.leases_redispatch(
        TrainingJob.objects.all(),
        waited_seconds=settings.STUDIO_REDISPATCH_SECONDS,
        dispatch=training_job_enqueue,
    )


def training_jobs_reap_stale() -> list[int]:
    """Requeue (or fail, past the attempt cap) every running job whose lease has lapsed; a job whose
    cancellation was requested is cancelled instead."""
    now = timezone.now()
    for job in TrainingJob.objects.filter(leases.lapsed_before(now), cancel_requested_at__isnull=False):
        _settle(
            job.pk, JobStatus.CANCELLED, guard=leases.lapsed_before(now), message="Cancelled (worker lost)"
        )
    return leases.leases_reap(
        TrainingJob.objects.filter(cancel_requested_at__isnull=True),
        on_requeued=_requeued,
        on_exhausted=lambda job, now: _fail_exhausted(job, guard=leases.lapsed_before(now)),
    )


@transaction.atomic
def training_job_succeed(
    *, job_id: int, worker: str, model_version_fields: dict, metrics: dict, hardware: dict
) -> ModelVersion | None:
    """Mark the job succeeded and register its model version, both or neither, only while `worker` holds
    the lease. The settling UPDATE comes first, so a worker that lost the lease registers nothing."""
    if not leases.lease_settle(
        TrainingJob.objects,
        pk=job_id,
        status=JobStatus.SUCCEEDED,
        guard=leases.held_by(worker),
        metrics=metrics,
        hardware=hardware,
    ):
        return None
    job = TrainingJob.objects.select_related("project", "base_model", "dataset_version", "created_by").get(
        pk=job_id
    )
    version = model_version_register(
        project=job.project,
        user=job.created_by,
        training_job=job,
        base_model=job.base_model,
        dataset_version=job.dataset_version,
        **model_version_fields,
    )
    _record_outcome(
        job_id,
        JobStatus.SUCCEEDED,
        f"Succeeded: model version v{version.number} registered",
        EventLevel.INFO,
        {"metrics": metrics},
    )
    return version
