"""Thin Celery tasks for training; each loads nothing itself and calls one function."""

from __future__ import annotations

from celery import shared_task

from studio import leases


@shared_task(name="training.tasks.training_job_run", acks_late=True, reject_on_worker_lost=True)
def training_job_run(job_id: int) -> None:
    from training.execution import execute_training_job

    execute_training_job(job_id)


def _reap_stale_jobs() -> list[int]:
    from training.services import training_jobs_reap_stale

    return training_jobs_reap_stale()


def _redispatch_waiting_jobs() -> list[int]:
    from training.services import training_jobs_redispatch_waiting

    return training_jobs_redispatch_waiting()


leases.reaper_register("training jobs", _reap_stale_jobs)
leases.reaper_register("training jobs sent again", _redispatch_waiting_jobs)


@shared_task(name="training.tasks.base_model_prepare")
def base_model_prepare(base_model_id: int) -> None:
    """Convert and cache a base model ahead of its first job (and give uploads real token counts)."""
    from studio.db import on_a_live_connection
    from training.execution import ensure_base_model_cached
    from training.models import BaseModel

    ensure_base_model_cached(on_a_live_connection(lambda: BaseModel.objects.get(pk=base_model_id)))


@shared_task(name="training.tasks.model_version_export_merged")
def model_version_export_merged(model_version_id: int) -> None:
    from training.execution import export_merged_weights

    export_merged_weights(model_version_id)


@shared_task(name="training.tasks.model_version_try")
def model_version_try(model_version_id: int, text: str) -> dict:
    """One "Try it" answer; it travels back through the result backend only (no row is written)."""
    from training.execution import try_model_version

    return try_model_version(model_version_id, text)
