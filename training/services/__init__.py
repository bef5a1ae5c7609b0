"""Writes for the training app, one module per entity. Each service runs in one transaction and records
its audit event; the worker's writes go through the lease-checked services in `lease`."""

from training.services.base_models import base_model_record_cache, base_model_register_folder
from training.services.jobs import (
    training_job_cancel,
    training_job_create,
    training_job_enqueue,
    training_job_event,
    training_job_retry,
)
from training.services.lease import (
    cancel_requested,
    training_job_claim,
    training_job_fail,
    training_job_heartbeat,
    training_job_mark_cancelled,
    training_job_record_checkpoint,
    training_job_record_evaluation,
    training_job_record_event,
    training_job_record_progress,
    training_job_save_resolved_hyperparameters,
    training_job_succeed,
    training_jobs_reap_stale,
    training_jobs_redispatch_waiting,
)
from training.services.model_versions import (
    baseline_ensure,
    model_version_download,
    model_version_register,
    model_version_request_merged_export,
    model_version_update,
)

__all__ = [
    "base_model_record_cache",
    "base_model_register_folder",
    "baseline_ensure",
    "cancel_requested",
    "model_version_download",
    "model_version_register",
    "model_version_request_merged_export",
    "model_version_update",
    "training_job_cancel",
    "training_job_claim",
    "training_job_create",
    "training_job_enqueue",
    "training_job_event",
    "training_job_fail",
    "training_job_heartbeat",
    "training_job_mark_cancelled",
    "training_job_record_checkpoint",
    "training_job_record_evaluation",
    "training_job_record_event",
    "training_job_record_progress",
    "training_job_retry",
    "training_job_save_resolved_hyperparameters",
    "training_job_succeed",
    "training_jobs_reap_stale",
    "training_jobs_redispatch_waiting",
]
