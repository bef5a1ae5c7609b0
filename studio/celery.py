"""The Celery app: three queues, JSON only, settings for long jobs."""

import contextlib
import os
from pathlib import Path

from celery import Celery, signals
from kombu import Queue

from training.engine.cores import bound_openmp_spinning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings.local")
# Worker processes: idle OpenMP threads spin briefly, then sleep, so they do not hold cores the host's other
# ML processes need (read when torch loads, so set before any task imports it).
bound_openmp_spinning()

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")

app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("training"), Queue("evaluation")),
    task_routes={
        "training.tasks.training_job_run": {"queue": "training"},
        "training.tasks.base_model_prepare": {"queue": "training"},
        "evaluation.tasks.*": {"queue": "evaluation"},
    },
    # A task is acknowledged only once it has finished, so a lost worker's task is redelivered;
    # the services' own leases make that redelivery safe.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=6 * 3600,
    task_soft_time_limit=6 * 3600 - 60,
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
)


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender, **kwargs):
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    backend = sender.conf.result_backend or ""
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


# Tasks of these apps run models: each holds a claim on the host's cores while it runs (see
# training/engine/cores.py), so the engine gives it an even share of them beside the host's other ML work.
ML_TASK_PREFIXES = ("training.tasks.", "evaluation.tasks.")
_core_claims: dict[str, contextlib.ExitStack] = {}


@signals.task_prerun.connect
def _claim_cores(task_id=None, task=None, **kwargs):
    if task is None or not task.name.startswith(ML_TASK_PREFIXES):
        return
    from django.conf import settings

    from training.engine import cores

    claim = contextlib.ExitStack()
    claim.enter_context(cores.claim(settings.STUDIO_ML_CORES_DIR, task.name.split(".", 1)[0]))
    _core_claims[task_id] = claim


@signals.task_postrun.connect
def _release_cores(task_id=None, **kwargs):
    claim = _core_claims.pop(task_id, None)
    if claim is not None:
        claim.close()


app.autodiscover_tasks()
