"""The worker's side of a training job: its lease, heartbeat, progress and outcome.

A running job belongs to the worker holding its lease. Workers renew the lease with each heartbeat;
a job whose lease lapses is put back in the queue (resuming from its last checkpoint) by any worker's
reaper, until its attempts run out. Every conditional state change is a single UPDATE … WHERE, so two
workers can never both run a job, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_event_record
from training.choices import TERMINAL_STATUSES, EventLevel, JobStatus
from training.models import ModelVersion, TrainingJob, TrainingMetricPoint
from training.services.jobs import training_job_enqueue, training_job_event
from training.services.model_versions import model_version_register


def _lease_expiry(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.STUDIO_TRAINING_LEASE_SECONDS)


def training_job_claim(*, job_id: int, worker: str) -> TrainingJob | None:
    """Take the job's lease if it is queued (or its lease has lapsed). None when it is not ours to run."""
    now = timezone.now()
    with transaction.atomic():
        job = TrainingJob.objects.filter(pk=job_id).first()
        if job is None or job.status in TERMINAL_STATUSES:
            return None
        if job.cancel_requested_at is not None:
            _finish(job_id, JobStatus.CANCELLED, guard=Q(), message="Cancelled before it started")
            return None
        if job.attempt >= job.max_attempts:
            _fail_exhausted(job)
            return None
        claimed = (
            TrainingJob.objects.filter(pk=job_id)
            .filter(Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now))
            .update(
                status=JobStatus.RUNNING,
                lease_owner=worker,
                lease_expires_at=_lease_expiry(now),
                heartbeat_at=now,
                attempt=job.attempt + 1,
                started_at=job.started_at or now,
                updated_at=now,
            )
        )
        if not claimed:
            return None
        training_job_event(
            job_id,
            EventLevel.INFO,
            f"Attempt {job.attempt + 1} of {job.max_attempts} started",
            {"worker": worker},
        )
    return TrainingJob.objects.select_related("project", "dataset_version__dataset", "base_model").get(
        pk=job_id
    )


def training_job_heartbeat(*, job_id: int, worker: str, **progress) -> bool:
    """Renew the lease (and store progress). False when the lease is no longer this worker's."""
    now = timezone.now()
    return bool(
        TrainingJob.objects.filter(pk=job_id, lease_owner=worker, status=JobStatus.RUNNING).update(
            lease_expires_at=_lease_expiry(now), heartbeat_at=now, updated_at=now, **progress
        )
    )


def training_job_record_point(*, job_id: int, step: int, **values) -> None:
    TrainingMetricPoint.objects.create(job_id=job_id, step=step, **values)


def cancel_requested(job_id: int) -> bool:
    return TrainingJob.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


def _finish(job_id: int, status: str, *, guard: Q, message: str, level=EventLevel.INFO, **fields) -> bool:
    now = timezone.now()
    with transaction.atomic():
        done = (
            TrainingJob.objects.filter(pk=job_id)
            .exclude(status__in=TERMINAL_STATUSES)
            .filter(guard)
            .update(
                status=status,
                finished_at=now,
                lease_owner="",
                lease_expires_at=None,
                updated_at=now,
                **fields,
            )
        )
        if done:
            training_job_event(
                job_id, level, message, {k: v for k, v in fields.items() if k != "failure_traceback"}
            )
            job = TrainingJob.objects.select_related("project__team").get(pk=job_id)
            audit_event_record(
                actor=None, action=f"training_job.{status}", target=job, payload={"message": message}
            )
    return bool(done)


def training_job_mark_cancelled(*, job_id: int, worker: str) -> bool:
    return _finish(job_id, JobStatus.CANCELLED, guard=Q(lease_owner=worker), message="Cancelled by request")


def training_job_fail(
    *, job_id: int, worker: str | None, reason: str, hint: str = "", traceback: str = ""
) -> bool:
    guard = Q(lease_owner=worker) if worker else Q()
    return _finish(
        job_id,
        JobStatus.FAILED,
        guard=guard,
        message=f"Failed: {reason}",
        level=EventLevel.ERROR,
        failure_reason=reason[:300],
        failure_hint=hint[:300],
        failure_traceback=traceback,
    )


def _fail_exhausted(job: TrainingJob) -> None:
    training_job_fail(
        job_id=job.pk,
        worker=None,
        reason=f"The worker running this job was lost {job.attempt} times (limit {job.max_attempts}).",
        hint="Workers killed for memory are the usual cause: lower the batch size or max sequence length.",
    )


def training_jobs_reap_stale() -> list[int]:
    """Requeue (or fail, past the attempt cap) every running job whose lease has lapsed."""
    now = timezone.now()
    requeued = []
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now):
        if job.cancel_requested_at is not None:
            _finish(
                job.pk,
                JobStatus.CANCELLED,
                guard=Q(lease_expires_at__lt=now),
                message="Cancelled (worker lost)",
            )
            continue
        if job.attempt >= job.max_attempts:
            _fail_exhausted(job)
            continue
        with transaction.atomic():
            released = TrainingJob.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, lease_expires_at__lt=now
            ).update(status=JobStatus.QUEUED, lease_owner="", lease_expires_at=None, updated_at=now)
            if released:
                resume = (
                    f" from the checkpoint at step {job.last_checkpoint_step}"
                    if job.last_checkpoint_step
                    else ""
                )
                training_job_event(
                    job.pk,
                    EventLevel.WARNING,
                    f"Worker lost (last heartbeat {job.heartbeat_at:%H:%M:%S} UTC); requeued{resume}",
                    {"previous_worker": job.lease_owner, "attempt": job.attempt},
                )
                training_job_enqueue(job)
                requeued.append(job.pk)
    return requeued


@transaction.atomic
def training_job_succeed(
    *, job_id: int, worker: str, model_version_fields: dict, metrics: dict
) -> ModelVersion | None:
    """Register the model version and mark the job succeeded, both or neither."""
    job = TrainingJob.objects.select_related("project").get(pk=job_id)
    if job.lease_owner != worker or job.status != JobStatus.RUNNING:
        return None
    version = model_version_register(
        project=job.project,
        user=job.created_by,
        training_job=job,
        base_model=job.base_model,
        dataset_version=job.dataset_version,
        **model_version_fields,
    )
    _finish(
        job_id,
        JobStatus.SUCCEEDED,
        guard=Q(lease_owner=worker),
        message=f"Succeeded: model version v{version.number} registered",
        metrics=metrics,
    )
    return version
