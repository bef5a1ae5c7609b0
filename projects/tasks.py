"""Thin Celery tasks for the projects app; each takes an id and calls one service."""

from __future__ import annotations

from celery import shared_task

from studio import leases


@shared_task(name="projects.tasks.dataset_import_run", acks_late=True, reject_on_worker_lost=True)
def dataset_import_run(import_id: int) -> None:
    """Check a large upload on this worker (the `default` queue) and store it, or record why not."""
    from projects.services.imports import dataset_import_run as run

    run(import_id=import_id, worker=leases.worker_identity())


def _reap_stale_imports() -> list[int]:
    from projects.services.imports import dataset_imports_reap_stale

    return dataset_imports_reap_stale()


def _redispatch_waiting_imports() -> list[int]:
    from projects.services.imports import dataset_imports_redispatch_waiting

    return dataset_imports_redispatch_waiting()


leases.reaper_register("dataset imports", _reap_stale_imports)
leases.reaper_register("dataset imports sent again", _redispatch_waiting_imports)
