"""Training jobs as users drive them: create (after the role, data and policy checks), cancel, retry."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from projects.choices import DatasetKind
from projects.models import DatasetVersion, Project
from projects.policy import assert_trainable
from projects.roles import Action, require
from projects.selectors import charter_latest
from studio import leases
from studio.errors import Conflict, InvalidInput
from studio.validation import parse
from training.catalog import default_base_model
from training.choices import TERMINAL_STATUSES, EventLevel, JobStatus, Method, Preset
from training.engine.config import Hyperparameters, resolve_preset
from training.models import BaseModel, TrainingJob, TrainingJobEvent
from training.services.model_versions import baseline_ensure


def training_job_event(job_id: int, level: str, message: str, data: dict | None = None) -> TrainingJobEvent:
    return TrainingJobEvent.objects.create(job_id=job_id, level=level, message=message[:500], data=data or {})


def training_job_enqueue(job: TrainingJob) -> None:
    """Send the job to the training queue once the current transaction commits."""
    from training.tasks import training_job_run

    leases.send_on_commit(training_job_run, job.pk)


def _resolve_hyperparameters(
    *, preset: str, hyperparameters: dict | None, method: str, n_train: int
) -> Hyperparameters:
    if preset not in Preset.values:
        raise InvalidInput(
            f"“{preset}” is not a preset.", details={"preset": [f"Choose one of {', '.join(Preset.values)}."]}
        )
    if preset == Preset.CUSTOM or hyperparameters:
        base = (
            {}
            if preset == Preset.CUSTOM
            else resolve_preset(preset, n_train_examples=n_train, device_type="cpu").model_dump()
        )
        values = {**base, **(hyperparameters or {}), "method": method}
        return parse(Hyperparameters, values, prefix="hyperparameters.", what="hyperparameters")
    resolved = resolve_preset(preset, n_train_examples=n_train, device_type="cpu")
    return Hyperparameters(**{**resolved.model_dump(), "method": method})


@transaction.atomic
def training_job_create(
    *,
    project: Project,
    user,
    dataset_version: DatasetVersion,
    base_model: BaseModel | None = None,
    method: str = Method.LORA,
    preset: str = Preset.BALANCED,
    hyperparameters: dict | None = None,
    retry_of: TrainingJob | None = None,
) -> TrainingJob:
    """Queue a fine-tuning job after checking the role, the data and the charter's policy."""
    require(user, project.team, Action.RUN_JOBS)
    if dataset_version.dataset.project_id != project.pk:
        raise InvalidInput(
            "That dataset version belongs to another project.",
            details={"dataset_version": ["Wrong project."]},
        )
    if dataset_version.dataset.kind != DatasetKind.TRAINING:
        raise InvalidInput(
            "A golden test set is for evaluation only; pick a training dataset.",
            details={"dataset_version": ["Golden test sets cannot be trained on."]},
        )
    assert_trainable(dataset_version)
    if method not in Method.values:
        raise InvalidInput(
            f"“{method}” is not a method.", details={"method": [f"Choose one of {', '.join(Method.values)}."]}
        )
    base_model = base_model or BaseModel.objects.filter(is_default=True).first() or default_base_model()
    if base_model is None or not base_model.is_active:
        raise InvalidInput(
            "Choose an active base model.", details={"base_model": ["No such active base model."]}
        )
    if method == Method.FULL and (base_model.parameter_count or 0) > 50_000_000:
        raise InvalidInput(
            "Full fine-tuning is only offered for tiny models (under 50M parameters); use LoRA.",
            details={"method": ["Use lora for this base model."]},
        )
    n_train = dataset_version.split_counts.get("train", 0)
    if n_train < 1:
        raise InvalidInput(
            "The dataset version has no training rows.", details={"dataset_version": ["Empty train split."]}
        )
    config = _resolve_hyperparameters(
        preset=preset, hyperparameters=hyperparameters, method=method, n_train=n_train
    )
    job = TrainingJob(
        project=project,
        dataset_version=dataset_version,
        charter=charter_latest(project=project),
        base_model=base_model,
        created_by=user,
        retry_of=retry_of,
        method=method,
        preset=Preset.CUSTOM if hyperparameters else preset,
        hyperparameters=config.model_dump(mode="json"),
        max_attempts=settings.STUDIO_TRAINING_MAX_ATTEMPTS,
    )
    job.full_clean()
    job.save()
    training_job_event(
        job.pk, EventLevel.INFO, "Job created and queued", {"preset": job.preset, "train_rows": n_train}
    )
    audit_event_record(
        actor=user,
        action="training_job.retry" if retry_of else "training_job.create",
        target=job,
        payload={
            "dataset_version": dataset_version.pk,
            "base_model": base_model.key,
            "method": method,
            "preset": job.preset,
            "retry_of": retry_of.pk if retry_of else None,
        },
    )
    baseline_ensure(project=project, dataset_version=dataset_version, base_model=base_model, user=user)
    training_job_enqueue(job)
    return job


@transaction.atomic
def training_job_cancel(*, job: TrainingJob, user) -> TrainingJob:
    """Queued jobs stop at once; running ones stop at their next step (the worker confirms)."""
    require(user, job.project.team, Action.RUN_JOBS)
    job = TrainingJob.objects.select_for_update().get(pk=job.pk)
    if job.status in TERMINAL_STATUSES:
        raise Conflict(
            f"The job has already {job.status}.", code="job_finished", details={"status": job.status}
        )
    now = timezone.now()
    if job.cancel_requested_at is None:
        job.cancel_requested_at = now
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at = JobStatus.CANCELLED, now
        training_job_event(job.pk, EventLevel.INFO, "Cancelled before it started")
    else:
        training_job_event(job.pk, EventLevel.INFO, "Cancellation requested; stopping at the next step")
    job.save(update_fields=["cancel_requested_at", "status", "finished_at", "updated_at"])
    audit_event_record(actor=user, action="training_job.cancel", target=job, payload={"status": job.status})
    return job


def training_job_retry(*, job: TrainingJob, user) -> TrainingJob:
    """A new job with the same data, base model and configuration."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            "Only failed or cancelled jobs can be retried.",
            code="job_not_retryable",
            details={"status": job.status},
        )
    return training_job_create(
        project=job.project,
        user=user,
        dataset_version=job.dataset_version,
        base_model=job.base_model,
        method=job.method,
        preset=Preset.CUSTOM,
        hyperparameters=job.hyperparameters,
        retry_of=job,
    )
