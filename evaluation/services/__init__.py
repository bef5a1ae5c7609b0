"""Writes for the evaluation app, one module per entity. Each service runs in one transaction and records
its audit event; the worker's writes go through the lease-checked services in `lease`."""

from evaluation.services.comparisons import comparison_build, comparison_markdown
from evaluation.services.lease import (
    eval_run_cancel_requested,
    eval_run_claim,
    eval_run_fail,
    eval_run_heartbeat,
    eval_run_mark_cancelled,
    eval_run_record_progress,
    eval_run_succeed,
    eval_runs_reap_stale,
    eval_runs_redispatch_waiting,
)
from evaluation.services.runs import eval_run_cancel, eval_run_create, eval_run_enqueue
from evaluation.services.specs import (
    charter_measures_unmeasured,
    eval_spec_create,
    eval_spec_sign,
    gates_from_charter,
    spec_digest,
)

__all__ = [
    "charter_measures_unmeasured",
    "comparison_build",
    "comparison_markdown",
    "eval_run_cancel",
    "eval_run_cancel_requested",
    "eval_run_claim",
    "eval_run_create",
    "eval_run_enqueue",
    "eval_run_fail",
    "eval_run_heartbeat",
    "eval_run_mark_cancelled",
    "eval_run_record_progress",
    "eval_run_succeed",
    "eval_runs_reap_stale",
    "eval_runs_redispatch_waiting",
    "eval_spec_create",
    "eval_spec_sign",
    "gates_from_charter",
    "spec_digest",
]
