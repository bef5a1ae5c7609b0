"""Diagnostics that prove a worker is consuming each queue."""

import os
import socket

from celery import shared_task


@shared_task(name="studio.tasks.worker_ping")
def worker_ping() -> dict:
    """Answers with the worker's host and pid so a caller can tell it ran in another process."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}
