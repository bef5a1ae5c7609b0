"""Thin Celery tasks for serving."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="serving.tasks.request_logs_purge")
def request_logs_purge() -> int:
    from serving.services import request_logs_purge as purge

    return purge()
