"""Runs a claimed training job on this worker: loads its data, drives the engine, reports back.

Imported by the Celery task only; it pulls in the engine (torch) lazily, never the web process.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import traceback
import uuid
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections

from projects.ingest.export import read_jsonl
from studio.db import CONNECTION_ERRORS, on_a_live_connection
from studio.leases import LeaseHeartbeat, worker_identity
from training import services
from training.choices import EventLevel, ModelVersionKind
from training.models import BaseModel, ModelVersion, TrainingJob

logger = logging.getLogger(__name__)
SAMPLE_PREDICTIONS = 3
TRY_MAX_NEW_TOKENS = 128


def code_version() -> str:
    if settings.STUDIO_CODE_VERSION:
        return settings.STUDIO_CODE_VERSION
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class JobReporter:
    """The engine's Reporter: throttled progress rows, curve points, events and the cancel check.

    A heartbeat thread renews the lease even while one long step runs; losing the lease (another
    worker took the job over) makes `should_stop` true, so a job never runs twice at once.
    """

    def __init__(self, job_id: int, worker: str):
        self.job_id = job_id
        self.worker = worker
        self.interval = settings.STUDIO_PROGRESS_INTERVAL_SECONDS
        self.cancelled = False
        self._last_write = 0.0
        self._last_cancel_check = 0.0
        self._heartbeat = LeaseHeartbeat(
            lambda: services.training_job_heartbeat(job_id=job_id, worker=worker),
            period=max(1.0, settings.STUDIO_TRAINING_LEASE_SECONDS / 4),
            name=f"heartbeat-{job_id}",
        )
        self.lease_lost = self._heartbeat.lost

    def __enter__(self) -> JobReporter:
        self._heartbeat.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._heartbeat.__exit__(*exc)

    def progress(
        self, *, step, total_steps, epoch, train_loss, learning_rate, tokens_per_second, eta_seconds
    ) -> None:
        now = time.monotonic()
        if now - self._last_write < self.interval and step < total_steps:
            return
        self._last_write = now
        fields = {
            "step": step,
            "total_steps": total_steps,
            "epoch": round(epoch, 4),
            "train_loss": train_loss,
            "learning_rate": learning_rate,
            "tokens_per_second": tokens_per_second,
            "eta_seconds": eta_seconds,
        }
        self.check_lease(
            on_a_live_connection(
                lambda: services.training_job_record_progress(
                    job_id=self.job_id, worker=self.worker, **fields
                )
            )
        )

    def evaluation(self, *, step, val_loss, metrics) -> None:
        self.check_lease(
            on_a_live_connection(
                lambda: services.training_job_record_evaluation(
                    job_id=self.job_id, worker=self.worker, step=step, val_loss=val_loss, metrics=metrics
                )
            )
        )

    def event(self, level: str, message: str, data: dict | None = None) -> None:
        self.check_lease(
            on_a_live_connection(
                lambda: services.training_job_record_event(
                    job_id=self.job_id, worker=self.worker, level=level, message=message, data=data
                )
            )
        )

    def checkpoint(self, *, step, path) -> None:
        self.check_lease(
            on_a_live_connection(
                lambda: services.training_job_record_checkpoint(
                    job_id=self.job_id, worker=self.worker, step=step
                )
            )
        )

    def check_lease(self, held: bool) -> None:
        """A write refused because the lease is gone stops the run at its next step."""
        if not held:
            self.lease_lost.set()

    def should_stop(self) -> bool:
        if self.lease_lost.is_set():
            return True
        now = time.monotonic()
        if now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            self.cancelled = on_a_live_connection(lambda: services.cancel_requested(self.job_id))
        return self.cancelled


def _rows(job: TrainingJob) -> tuple[list[dict], list[dict]]:
    version = job.dataset_version
    splits = json.loads(version.splits_path.read_text())
    train_idx, val_idx = set(splits["train"]), set(splits["val"])
    train, val = [], []
    with open(version.rows_path, "rb") as handle:
        for index, row in enumerate(read_jsonl(handle)):
            if index in train_idx:
                train.append({"input": row["input"], "output": row["output"]})
            elif index in val_idx:
                val.append({"input": row["input"], "output": row["output"]})
    return train, val


def ensure_base_model_cached(base_model: BaseModel):
    """The base model converted/validated into the model cache; records its checksums in the catalog."""
    from training.engine.base_models import ensure_cached

    source = None if base_model.source_type == "bundled_gguf" else base_model.source
    cached = ensure_cached(source, Path(settings.MODEL_CACHE_DIR))
    on_a_live_connection(
        lambda: services.base_model_record_cache(
            base_model=base_model,
            source_checksum=cached.source_checksum,
            weights_checksum=cached.weights_checksum,
            parameter_count=cached.parameter_count,
            context_length=cached.context_length,
            architecture=cached.architecture,
        )
    )
    return cached


def execute_training_job(job_id: int) -> None:
    """Claim, run and settle one job. Safe to call twice for the same job: the lease decides.

    Every database call goes through `on_a_live_connection` (the job holds its rows from the claim, so
    nothing loads lazily): a connection dropped at any point of a long job costs one reconnect, not the
    job."""
    from training.engine.errors import EngineError, TrainingCancelled, TrainingFailed
    from training.engine.runner import run_training

    worker = worker_identity()
    job = on_a_live_connection(lambda: services.training_job_claim(job_id=job_id, worker=worker))
    if job is None:
        logger.info("Job %s is not ours to run (finished, cancelled or leased elsewhere)", job_id)
        return
    reporter = JobReporter(job_id, worker)
    started = time.monotonic()
    try:
        with reporter:
            cached = ensure_base_model_cached(job.base_model)
            train_rows, val_rows = _rows(job)
            reporter.event(
                EventLevel.INFO,
                f"Training on {len(train_rows)} examples, validating on {len(val_rows)}",
                {"base_model": job.base_model.key, "worker": worker},
            )
            result = run_training(
                work_dir=job.work_dir,
                base_model=cached,
                train_rows=train_rows,
                val_rows=val_rows,
                instructions=job.project.instructions,
                task_type=job.project.task_type,
                labels=job.dataset_version.labels or None,
                hyperparameters=_hyperparameters_for_this_worker(job, len(train_rows), reporter),
                reporter=reporter,
            )
            predictor = _load_version(result.output_dir, cached)
            samples = _sample_predictions(predictor, val_rows or train_rows)
            if val_rows and not reporter.should_stop():
                reporter.event(
                    EventLevel.INFO,
                    f"Scoring the model and the baseline on the same {len(val_rows)} validation examples",
                )
                result.metrics["assessment"] = _assess(job, predictor, cached, val_rows)
            del predictor
        if reporter.lease_lost.is_set():
            return
        _register(job, worker, result, cached, samples, time.monotonic() - started)
    except TrainingCancelled:
        if not reporter.lease_lost.is_set():
            on_a_live_connection(lambda: services.training_job_mark_cancelled(job_id=job_id, worker=worker))
    except TrainingFailed as error:
        _fail(job_id, worker, reason=error.reason_plain, hint=error.hint)
    except EngineError as error:
        _fail(job_id, worker, reason=str(error))
    except CONNECTION_ERRORS:
        logger.exception(
            "Job %s lost the database for longer than a reconnect; once its lease lapses the reaper "
            "resumes it from its last checkpoint",
            job_id,
        )
    except Exception as error:
        logger.exception("Training job %s failed", job_id)
        _fail(
            job_id,
            worker,
            reason=f"Unexpected error: {error.__class__.__name__}: {error}"[:300],
            hint="See the traceback below; retry once the cause is fixed.",
        )
    finally:
        close_old_connections()


def _fail(job_id: int, worker: str, *, reason: str, hint: str = "") -> None:
    """Settle the job as failed with the error being handled (its traceback kept for the job page)."""
    details = traceback.format_exc()
    on_a_live_connection(
        lambda: services.training_job_fail(
            job_id=job_id, worker=worker, reason=reason, hint=hint, traceback=details
        )
    )


def _hyperparameters_for_this_worker(job: TrainingJob, n_train: int, reporter: JobReporter):
    """Presets adapt to the hardware: on its first attempt, a preset job is resolved for this device."""
    from training.choices import Preset
    from training.engine.config import Hyperparameters, resolve_preset
    from training.engine.hardware import detect

    hyperparameters = Hyperparameters(**job.hyperparameters)
    device = detect()["device"]
    if job.preset == Preset.CUSTOM or device == "cpu" or job.attempt > 1:
        return hyperparameters
    resolved = resolve_preset(job.preset, n_train_examples=n_train, device_type=device)
    hyperparameters = Hyperparameters(**{**resolved.model_dump(), "method": job.method})
    reporter.check_lease(
        on_a_live_connection(
            lambda: services.training_job_save_resolved_hyperparameters(
                job_id=job.pk,
                worker=reporter.worker,
                hyperparameters=hyperparameters.model_dump(mode="json"),
                device=device,
                preset=job.preset,
            )
        )
    )
    job.hyperparameters = hyperparameters.model_dump(mode="json")  # what the lineage records is what ran
    return hyperparameters


def _load_version(output_dir: Path, cached):
    from training.engine.inference import load_model_version

    return load_model_version(output_dir, cached)


def _sample_predictions(predictor, rows: list[dict]) -> list[dict]:
    inputs = [row["input"] for row in rows[:SAMPLE_PREDICTIONS]]
    answers = predictor.generate(inputs, max_new_tokens=48)
    return [{"input": text, "output": answer} for text, answer in zip(inputs, answers, strict=True)]


def _assess(job: TrainingJob, predictor, cached, val_rows: list[dict]) -> dict:
    """The model and the project's baseline on the same validation examples (what the lift is measured on).

    The baseline is the project's prompted base model for this job's base model; without one (an older
    project) only the model's own report is kept."""
    from training.engine.assessment import answer_report, compare, load_baseline

    task_type = job.project.task_type
    labels = job.dataset_version.labels or None
    model_report = answer_report(predictor, val_rows, task_type=task_type, labels=labels)
    baseline_version = on_a_live_connection(
        lambda: (
            ModelVersion.objects.filter(
                project=job.project, kind=ModelVersionKind.BASELINE, base_model=job.base_model
            )
            .order_by("number")
            .first()
        )
    )
    baseline_report = None
    if model_report is not None and baseline_version is not None:
        config = baseline_version.training_config
        baseline = load_baseline(cached.path, config)
        baseline_report = answer_report(
            baseline, val_rows, task_type=task_type, labels=config.get("labels") or labels
        )
        if baseline_report is not None:
            baseline_report |= {"model_version": baseline_version.pk, "number": baseline_version.number}
    return {
        "validation": model_report,
        "baseline": baseline_report,
        "comparison": compare(model_report, baseline_report),
    }


def _register(job: TrainingJob, worker: str, result, cached, samples: list[dict], seconds: float) -> None:
    storage_name = f"{job.project_id}-{uuid.uuid4().hex}"
    target = Path(settings.ARTIFACTS_DIR) / "models" / storage_name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(result.output_dir, target)
    queued_seconds = (job.started_at - job.created_at).total_seconds() if job.started_at else None
    lineage = {
        "base_model": {
            "key": job.base_model.key,
            "name": job.base_model.name,
            "source_checksum": cached.source_checksum,
            "weights_checksum": cached.weights_checksum,
            "parameter_count": cached.parameter_count,
        },
        "dataset_version": {
            "id": job.dataset_version_id,
            "dataset": job.dataset_version.dataset.name,
            "number": job.dataset_version.number,
            "sha256": job.dataset_version.sha256,
            "split_seed": job.dataset_version.split_seed,
        },
        "charter_version": job.charter.version if job.charter else None,
        "training_job": job.pk,
        "config": job.hyperparameters,
        "code_version": code_version(),
        "hardware": result.hardware,
        "durations": {
            "queued_seconds": queued_seconds,
            "training_seconds": round(result.duration_seconds, 2),
            "total_seconds": round(seconds, 2),
        },
        "trained_tokens": result.trained_tokens,
        "steps": result.steps,
        "epochs": result.epochs,
        "attempts": job.attempt,
        "peak_memory_bytes": result.peak_memory_bytes,
    }
    model_version_fields = {
        "storage_name": storage_name,
        "artifacts": result.artifacts,
        "training_config": json.loads((target / "training_config.json").read_text()),
        "metrics": result.metrics,
        "lineage": lineage,
        "sample_predictions": samples,
    }
    version = on_a_live_connection(
        lambda: services.training_job_succeed(
            job_id=job.pk,
            worker=worker,
            metrics=result.metrics,
            hardware=result.hardware,
            model_version_fields=model_version_fields,
        )
    )
    if version is None and not _registered(storage_name):  # a retry after a commit whose answer was lost
        shutil.rmtree(target, ignore_errors=True)
    else:
        shutil.rmtree(job.work_dir / "checkpoints", ignore_errors=True)


def _registered(storage_name: str) -> bool:
    return on_a_live_connection(lambda: ModelVersion.objects.filter(storage_name=storage_name).exists())


def _model_version(model_version_id: int, *related: str) -> ModelVersion:
    versions = ModelVersion.objects.select_related(*related)
    return on_a_live_connection(lambda: versions.get(pk=model_version_id))


def export_merged_weights(model_version_id: int) -> None:
    """Write base weights with the adapter merged in beside the adapter, as a standalone HF folder."""
    from training.engine.inference import load_model_version

    version = _model_version(model_version_id, "base_model")
    target = version.merged_dir
    if target.exists():
        return
    cached = ensure_base_model_cached(version.base_model)
    staging = target.with_name(f".{target.name}-{uuid.uuid4().hex[:6]}")
    try:
        load_model_version(version.artifacts_dir, cached, device="cpu").merge_and_save(staging)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_TRY_CACHE: dict[int, object] = {}
_TRY_CACHE_SIZE = 2


def _try_predictor(version: ModelVersion):
    """The version's predictor, kept for the next few tries in this worker process."""
    predictor = _TRY_CACHE.pop(version.pk, None)
    if predictor is None:
        cached = ensure_base_model_cached(version.base_model)
        if version.kind == ModelVersionKind.BASELINE:
            from training.engine.assessment import load_baseline

            predictor = load_baseline(cached.path, version.training_config)
        else:
            from training.engine.inference import load_model_version

            predictor = load_model_version(version.artifacts_dir, cached)
    _TRY_CACHE[version.pk] = predictor
    while len(_TRY_CACHE) > _TRY_CACHE_SIZE:
        _TRY_CACHE.pop(next(iter(_TRY_CACHE)))
    return predictor


def try_model_version(model_version_id: int, text: str) -> dict:
    """The model's answer to one input: for classification the label and its confidence."""
    version = _model_version(model_version_id, "base_model", "project")
    predictor = _try_predictor(version)
    labels = version.training_config.get("labels") or None
    if version.project.task_type == "classification" and labels:
        [(label, confidence)] = predictor.classify([text], labels)
        return {"output": label, "confidence": round(float(confidence), 4)}
    schema = version.project.output_schema if version.project.task_type == "extraction" else None
    [answer] = predictor.generate([text], max_new_tokens=TRY_MAX_NEW_TOKENS, schema=schema or None)
    return {"output": answer, "confidence": None}
