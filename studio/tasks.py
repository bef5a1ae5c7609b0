"""Diagnostics that prove a worker is consuming each queue, and the reaper thread every worker runs."""

import os
import socket
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from studio.leases import reapers_run


@shared_task(name="studio.tasks.worker_ping")
def worker_ping() -> dict:
    """Answers with the worker's host and pid so a caller can tell it ran in another process."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


_reaper_stop = threading.Event()


def _reaper_loop() -> None:
    interval = settings.STUDIO_REAPER_INTERVAL_SECONDS
    while True:
        try:
            reapers_run()
        finally:
            connection.close()
        if _reaper_stop.wait(interval):
            return


@worker_ready.connect
def _start_reaper(sender=None, **kwargs) -> None:
    """Every worker doubles as the reaper of leased rows (training jobs, dataset imports…) whose worker
    died, so no extra process is needed; each app registers its reaper with `leases.reaper_register`."""
    threading.Thread(target=_reaper_loop, name="lease-reaper", daemon=True).start()


@worker_shutdown.connect
def _stop_reaper(sender=None, **kwargs) -> None:
    _reaper_stop.set()
