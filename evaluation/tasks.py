"""Thin Celery tasks for evaluation (routed to the `evaluation` queue); each calls one function."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from studio import leases

logger = logging.getLogger(__name__)


@shared_task(name="evaluation.tasks.eval_run_execute", acks_late=True, reject_on_worker_lost=True)
def eval_run_execute(run_id: int) -> None:
    from evaluation.execution import execute_eval_run

    execute_eval_run(run_id)


def _redispatch_waiting_runs() -> list[int]:
    from evaluation.services import eval_runs_redispatch_waiting

    return eval_runs_redispatch_waiting()


# Lost messages are sent again by the studio's reaper thread, with those of the other apps.
leases.reaper_register("eval runs sent again", _redispatch_waiting_runs)

_reaper_stop = threading.Event()


def _reaper_loop() -> None:
    from evaluation.services import eval_runs_reap_stale

    while True:
        try:
            requeued = eval_runs_reap_stale()
            if requeued:
                logger.warning("Requeued eval runs whose worker was lost: %s", requeued)
        except Exception:  # the reaper must outlive a database hiccup
            logger.exception("Eval reaper pass failed")
        finally:
            connection.close()
        if _reaper_stop.wait(settings.STUDIO_REAPER_INTERVAL_SECONDS):
            return


@worker_ready.connect
def _start_reaper(sender=None, **kwargs) -> None:
    """Every worker also reaps eval runs whose worker died, as it does training jobs."""
    threading.Thread(target=_reaper_loop, name="evaluation-reaper", daemon=True).start()


@worker_shutdown.connect
def _stop_reaper(sender=None, **kwargs) -> None:
    _reaper_stop.set()
