"""The worker's side of an eval run: every write it makes, each checked against its lease.

The same rules as training jobs (`studio.leases`, `training.services.lease`): a write matches only while
the calling worker holds the run's lease and answers False otherwise; any worker's reaper puts a run
whose lease lapsed back in the queue (it starts over: results are written only with success) until its
attempts run out.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_event_record
from evaluation.choices import RunStatus
from evaluation.models import EvalResult, EvalRun
from evaluation.services.runs import eval_run_enqueue
from studio import leases


def _renew(run_id: int, worker: str, **fields) -> bool:
    return leases.lease_renew(
        EvalRun.objects, pk=run_id, worker=worker, seconds=settings.STUDIO_EVALUATION_LEASE_SECONDS, **fields
    )


def eval_run_claim(*, run_id: int, worker: str) -> EvalRun | None:
    """Take the run's lease if it is queued (or its lease lapsed). None when it is not ours to run."""
    with transaction.atomic():
        if not leases.lease_start(
            EvalRun.objects,
            pk=run_id,
            worker=worker,
            seconds=settings.STUDIO_EVALUATION_LEASE_SECONDS,
            on_cancelled=lambda run: _settle(
                run_id, RunStatus.CANCELLED, guard=Q(), message="Cancelled before it started"
            ),
            on_exhausted=lambda run: _fail_exhausted(run, guard=Q()),
        ):
            return None
        # Read inside the claim's transaction: a connection lost here undoes the claim, so a retry is safe.
        return EvalRun.objects.select_related(
            "project", "spec", "model_version__base_model", "model_version__dataset_version"
        ).get(pk=run_id)


def eval_run_heartbeat(*, run_id: int, worker: str) -> bool:
    return _renew(run_id, worker)


def eval_run_record_progress(*, run_id: int, worker: str, done: int, total: int) -> bool:
    """Store how many examples have been answered, renewing the lease."""
    return _renew(run_id, worker, examples_done=done, examples_total=total)


def eval_run_cancel_requested(run_id: int) -> bool:
    return EvalRun.objects.filter(pk=run_id, cancel_requested_at__isnull=False).exists()


def _settle(run_id: int, status: str, *, guard: Q, message: str, **fields) -> bool:
    with transaction.atomic():
        if not leases.lease_settle(EvalRun.objects, pk=run_id, status=status, guard=guard, **fields):
            return False
        run = EvalRun.objects.select_related("project__team").get(pk=run_id)
        audit_event_record(actor=None, action=f"eval_run.{status}", target=run, payload={"message": message})
    return True


def eval_run_mark_cancelled(*, run_id: int, worker: str) -> bool:
    return _settle(run_id, RunStatus.CANCELLED, guard=leases.held_by(worker), message="Cancelled by request")


def eval_run_fail(*, run_id: int, worker: str, reason: str, hint: str = "", traceback: str = "") -> bool:
    return _fail(run_id, guard=leases.held_by(worker), reason=reason, hint=hint, traceback=traceback)


def _fail(run_id: int, *, guard: Q, reason: str, hint: str = "", traceback: str = "") -> bool:
    return _settle(
        run_id,
        RunStatus.FAILED,
        guard=guard,
        message=f"Failed: {reason}",
        failure_reason=reason[:300],
        failure_hint=hint[:300],
        failure_traceback=traceback,
    )


def _fail_exhausted(run: EvalRun, *, guard: Q) -> None:
    _fail(
        run.pk,
        guard=guard,
        reason=f"The worker running this evaluation was lost {run.attempt} times (limit {run.max_attempts}).",
        hint="Workers killed for memory are the usual cause: evaluate on a machine with more memory.",
    )


def eval_runs_redispatch_waiting() -> list[int]:
    """Send again every run queued for longer than STUDIO_REDISPATCH_SECONDS (its message may be lost)."""
    return leases.leases_redispatch(
        EvalRun.objects.all(), waited_seconds=settings.STUDIO_REDISPATCH_SECONDS, dispatch=eval_run_enqueue
    )


def eval_runs_reap_stale() -> list[int]:
    """Requeue (or fail, past the attempt cap) every running eval whose lease has lapsed; one whose
    cancellation was requested is cancelled instead."""
    now = timezone.now()
    for run in EvalRun.objects.filter(leases.lapsed_before(now), cancel_requested_at__isnull=False):
        _settle(
            run.pk, RunStatus.CANCELLED, guard=leases.lapsed_before(now), message="Cancelled (worker lost)"
        )
    return leases.leases_reap(
        EvalRun.objects.filter(cancel_requested_at__isnull=True),
        on_requeued=eval_run_enqueue,
        on_exhausted=lambda run, now: _fail_exhausted(run, guard=leases.lapsed_before(now)),
    )


RESULT_FIELDS = (
    "case_key",
    "layer",
    "input",
    "expected",
    "output",
    "correct",
    "score",
    "confidence",
    "latency_ms",
    "tags",
    "details",
)


@transaction.atomic
def eval_run_succeed(*, run_id: int, worker: str, outcome: dict, results: list[dict]) -> bool:
    """Mark the run succeeded with its aggregates, verdicts and per-example results, all or nothing,
    only while `worker` holds the lease (the settling UPDATE comes first)."""
    fields = {
        key: outcome[key]
        for key in (
            "metrics",
            "layer_metrics",
            "gate_report",
            "gates_passed",
            "coverage_curve",
            "reliability",
            "temperature",
            "cost",
            "hardware",
            "reference_run_id",
        )
        if key in outcome
    }
    total = len(results)
    if not leases.lease_settle(
        EvalRun.objects,
        pk=run_id,
        status=RunStatus.SUCCEEDED,
        guard=leases.held_by(worker),
        examples_done=total,
        examples_total=total,
        **fields,
    ):
        return False
    EvalResult.objects.bulk_create(
        [
            EvalResult(
                run_id=run_id,
                index=index,
                slices="|" + "|".join(result["slices"]) + "|",
                **{key: result.get(key) for key in RESULT_FIELDS if key in result},
            )
            for index, result in enumerate(results)
        ],
        batch_size=500,
    )
    run = EvalRun.objects.select_related("project__team").get(pk=run_id)
    audit_event_record(
        actor=None,
        action="eval_run.succeeded",
        target=run,
        payload={"results": total, "gates_passed": outcome.get("gates_passed")},
    )
    return True
