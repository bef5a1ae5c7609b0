"""Training writes: job creation, cancel/retry, the worker lease, progress, results and model versions.

A running job belongs to the worker holding its lease. Workers renew the lease with each heartbeat;
a job whose lease lapses is put back in the queue (resuming from its last checkpoint) by any worker's
reaper, until its attempts run out. Every conditional state change is a single UPDATE … WHERE, so two
workers can never both run a job, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.services import audit_event_record
from projects.choices import DatasetKind
from projects.models import DatasetVersion, Project
from projects.policy import assert_trainable
from projects.roles import Action, require
from studio.errors import Conflict, InvalidInput
from studio.validation import parse
from training.catalog import default_base_model
from training.choices import TERMINAL_STATUSES, EventLevel, JobStatus, Method, ModelVersionKind, Preset
from training.engine.config import Hyperparameters, resolve_preset
from training.models import BaseModel, ModelVersion, TrainingJob, TrainingJobEvent, TrainingMetricPoint

logger = logging.getLogger(__name__)


def _lease_expiry(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.STUDIO_TRAINING_LEASE_SECONDS)


def training_job_event(job_id: int, level: str, message: str, data: dict | None = None) -> TrainingJobEvent:
    return TrainingJobEvent.objects.create(job_id=job_id, level=level, message=message[:500], data=data or {})


def _enqueue(job: TrainingJob) -> None:
    from training.tasks import training_job_run

    transaction.on_commit(lambda: training_job_run.delay(job.pk))


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
        charter=project.charters.order_by("-version").first(),
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
    _enqueue(job)
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


# --- the worker's side: lease, heartbeat, progress, outcome ------------------------------------------------


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
                _enqueue(job)
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


def _next_model_number(project: Project) -> int:
    Project.objects.select_for_update().filter(pk=project.pk).first()
    return (ModelVersion.objects.filter(project=project).aggregate(top=Max("number"))["top"] or 0) + 1


def model_version_register(
    *, project: Project, user, kind: str = ModelVersionKind.FINE_TUNED, **fields
) -> ModelVersion:
    version = ModelVersion(
        project=project, number=_next_model_number(project), kind=kind, created_by=user, **fields
    )
    version.full_clean()
    version.save()
    audit_event_record(
        actor=user,
        action="model_version.register",
        target=version,
        payload={
            "number": version.number,
            "kind": kind,
            "job": fields["training_job"].pk if fields.get("training_job") else None,
        },
    )
    return version


FEW_SHOT_EXAMPLES = 8


def baseline_ensure(
    *, project: Project, dataset_version: DatasetVersion, base_model: BaseModel, user
) -> ModelVersion:
    """The project's baseline for a base model: no training; instructions and a few examples in the prompt."""
    existing = ModelVersion.objects.filter(
        project=project, kind=ModelVersionKind.BASELINE, base_model=base_model
    ).first()
    if existing:
        return existing
    from projects.ingest.export import read_jsonl

    wanted: dict[str, dict] = {}
    with open(dataset_version.rows_path, "rb") as handle:
        for row in read_jsonl(handle):
            key = row["output"] if project.task_type == "classification" else str(len(wanted))
            wanted.setdefault(key, {"input": row["input"], "output": row["output"]})
            if len(wanted) >= FEW_SHOT_EXAMPLES:
                break
    return model_version_register(
        project=project,
        user=user,
        kind=ModelVersionKind.BASELINE,
        base_model=base_model,
        dataset_version=dataset_version,
        training_config={
            "instructions": project.instructions,
            "few_shot_examples": list(wanted.values()),
            "task_type": project.task_type,
            "labels": dataset_version.labels,
        },
        lineage={
            "base_model": {"key": base_model.key, "weights_checksum": base_model.weights_checksum},
            "dataset_version": {"id": dataset_version.pk, "sha256": dataset_version.sha256},
            "note": "Prompted base model, no training: the reference every comparison shows lift against.",
        },
        description="Baseline: the base model prompted with the project's instructions and a few examples.",
    )


@transaction.atomic
def model_version_update(
    *, version: ModelVersion, user, description: str | None = None, tags: list[str] | None = None
) -> ModelVersion:
    """Only the description and tags of a model version can change."""
    require(user, version.project.team, Action.RUN_JOBS)
    changes = {}
    if description is not None and description != version.description:
        changes["description"] = [version.description, description]
        version.description = description
    if tags is not None:
        clean = sorted({tag.strip() for tag in tags if tag.strip()})
        if clean != version.tags:
            changes["tags"] = [version.tags, clean]
            version.tags = clean
    if changes:
        version.save(update_fields=["description", "tags", "updated_at"])
        audit_event_record(actor=user, action="model_version.update", target=version, payload=changes)
    return version


@transaction.atomic
def base_model_register_folder(*, user, name: str, path: str) -> BaseModel:
    """Register a local Hugging Face-format folder (validated) as a base model (staff only)."""
    from pathlib import Path

    from django.utils.text import slugify

    from training.engine.base_models import validate_hf_folder
    from training.engine.errors import BaseModelInvalid

    if not user.is_staff:
        from studio.errors import Forbidden

        raise Forbidden("Only administrators register base models.", code="permission_denied")
    try:
        info = validate_hf_folder(Path(path))
    except BaseModelInvalid as error:
        raise InvalidInput(str(error), details={"path": [str(error)]}) from error
    key = slugify(name)[:100]
    if BaseModel.objects.filter(key=key).exists():
        raise Conflict(f"A base model called “{key}” exists.", code="duplicate", details={"name": [key]})
    model = BaseModel(
        key=key,
        name=name,
        source_type="local_folder",
        source=str(Path(path).resolve()),
        architecture=info.get("architecture", ""),
        parameter_count=info.get("parameter_count"),
        context_length=info.get("context_length"),
        registered_by=user,
    )
    model.full_clean()
    model.save()
    audit_event_record(actor=user, action="base_model.register", target=model, payload={"path": model.source})
    return model


@transaction.atomic
def model_version_request_merged_export(*, version: ModelVersion, user) -> bool:
    """Queue the merged-weights export on a worker; True when it is already there."""
    require(user, version.project.team, Action.RUN_JOBS)
    if version.kind != ModelVersionKind.FINE_TUNED or not version.storage_name:
        raise Conflict("Only fine-tuned versions have weights to merge.", code="no_artifacts")
    if version.training_config.get("hyperparameters", {}).get("method") == Method.FULL:
        raise Conflict(
            "A fully fine-tuned version is already standalone: download it as is.", code="already_full"
        )
    if (version.artifacts_dir / "merged").exists():
        return True
    from training.tasks import model_version_export_merged

    audit_event_record(actor=user, action="model_version.export_merged", target=version, payload={})
    transaction.on_commit(lambda: model_version_export_merged.delay(version.pk))
    return False
