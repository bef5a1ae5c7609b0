"""Large uploads off the web process: a dataset import.

The request only streams the file to storage (`dataset_import_create`: the same upfront checks as a
small upload, then a queued `DatasetImport`) and answers 202. A worker on the `default` queue takes the
import's lease (`studio.leases`, as for training jobs) and checks the file with the very pass a small
upload gets in its request (`upload_ingest`), renewing the lease with the rows and bytes read so far.
The import is settled in the transaction that stores the version, only while that worker still holds
the lease: succeeded with its version, or failed with each error's line and field and nothing stored.
The staged file is removed once the import is settled. Any worker's reaper requeues an import whose
worker was lost, until its attempts run out.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from audit.services import audit_event_record
from projects.choices import DatasetKind, ImportStatus
from projects.models import Dataset, DatasetImport, DatasetVersion, Project
from projects.services.datasets import UploadPlan, _split_ratios, upload_ingest, upload_plan
from studio import leases
from studio.errors import ApplicationError, storage_writes

logger = logging.getLogger(__name__)

STAGE_CHUNK = 1 << 20
FAILED_UNEXPECTEDLY = (
    "The file could not be checked because of an error in the studio. Upload it again; if it happens "
    "again, tell an administrator."
)


class _LeaseLost(Exception):
    """Another worker holds this import's lease now: stop, and write nothing."""


def _staging_dir() -> Path:
    folder = Path(settings.UPLOADS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stage(file: BinaryIO) -> tuple[str, int]:
    """Copy the upload, chunk by chunk, to a server-named file in the uploads folder: (name, bytes)."""
    with storage_writes("the upload"):
        folder = _staging_dir()
        name = f"{uuid.uuid4().hex}.upload"
        handle, part = tempfile.mkstemp(dir=folder, prefix=".staging-", suffix=".part")
        size = 0
        try:
            with os.fdopen(handle, "wb") as dest:
                file.seek(0)
                chunks = (
                    file.chunks(STAGE_CHUNK)
                    if hasattr(file, "chunks")
                    else iter(lambda: file.read(STAGE_CHUNK), b"")
                )
                for chunk in chunks:
                    dest.write(chunk)
                    size += len(chunk)
            os.replace(part, folder / name)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    return name, size


def dataset_import_enqueue(record: DatasetImport) -> None:
    """Send the import to the `default` queue once the current transaction commits."""
    from projects.tasks import dataset_import_run

    leases.send_on_commit(dataset_import_run, record.pk)


def dataset_import_create(
    *,
    project: Project,
    user,
    file: BinaryIO,
    filename: str,
    name: str = "",
    dataset: Dataset | None = None,
    kind: str = DatasetKind.TRAINING,
    fmt: str | None = None,
    column_mapping: dict | None = None,
    split_seed: int = 13,
    split_ratios: dict | None = None,
    card: dict | None = None,
) -> DatasetImport:
    """Store an upload as it streams in and queue it to be checked on a worker.

    Everything that can be judged without reading the rows (the right to upload, the dataset, kind,
    format, data card, split ratios) is answered here, as for a small upload."""
    plan: UploadPlan = upload_plan(
        project=project,
        user=user,
        file=file,
        filename=filename,
        name=name,
        dataset=dataset,
        kind=kind,
        fmt=fmt,
        column_mapping=column_mapping,
        card=card,
    )
    ratios = _split_ratios(split_ratios)
    staged_name, size = _stage(file)
    try:
        with transaction.atomic():
            record = DatasetImport(
                project=project,
                dataset=dataset,
                created_by=user,
                source_filename=filename[:255],
                source_format=str(plan.fmt),
                staged_name=staged_name,
                size_bytes=size,
                options={
                    "new_dataset": plan.new_dataset,
                    "column_mapping": column_mapping,
                    "split_seed": split_seed,
                    "split_ratios": dict(zip(("train", "val", "test"), ratios.as_tuple(), strict=True)),
                },
                max_attempts=settings.STUDIO_IMPORT_MAX_ATTEMPTS,
            )
            record.full_clean()
            record.save()
            audit_event_record(
                actor=user,
                action="dataset_import.create",
                target=record,
                payload={
                    "filename": record.source_filename,
                    "bytes": size,
                    "dataset": dataset.pk if dataset else None,
                },
            )
            dataset_import_enqueue(record)
    except BaseException:
        (_staging_dir() / staged_name).unlink(missing_ok=True)
        raise
    return record


# --- the worker's side: every write checked against its lease -------------------------------------------


def dataset_import_claim(*, import_id: int, worker: str) -> DatasetImport | None:
    """Take the import's lease if it is queued (or its lease lapsed). None when it is not ours to run."""
    with transaction.atomic():
        if not leases.lease_start(
            DatasetImport.objects,
            pk=import_id,
            worker=worker,
            seconds=settings.STUDIO_IMPORT_LEASE_SECONDS,
            on_exhausted=lambda record: _fail_exhausted(record, guard=Q()),
        ):
            return None
    return DatasetImport.objects.select_related("project__team", "dataset", "created_by").get(pk=import_id)


def dataset_import_heartbeat(*, import_id: int, worker: str, rows_read: int, bytes_read: int) -> bool:
    """Renew the lease, storing how far the check has read. False when it is no longer this worker's."""
    return leases.lease_renew(
        DatasetImport.objects,
        pk=import_id,
        worker=worker,
        seconds=settings.STUDIO_IMPORT_LEASE_SECONDS,
        rows_read=rows_read,
        bytes_read=bytes_read,
    )


class _ReadCounter:
    """The staged file as the check reads it: counts bytes and lines for the heartbeat, and stops the
    pass at its next read once the lease is lost."""

    def __init__(self) -> None:
        self.rows = 0
        self.bytes = 0
        self.stream: BinaryIO | None = None
        self.lost: threading.Event | None = None

    def read(self, size: int = -1) -> bytes:
        if self.lost is not None and self.lost.is_set():
            raise _LeaseLost
        chunk = self.stream.read(size)
        self.bytes += len(chunk)
        self.rows += chunk.count(b"\n")
        return chunk


def dataset_import_run(*, import_id: int, worker: str) -> DatasetVersion | None:
    """Check a queued import on this worker and settle it: its version, or its errors with nothing kept."""
    record = dataset_import_claim(import_id=import_id, worker=worker)
    if record is None:
        return None
    counter = _ReadCounter()
    heartbeat = leases.LeaseHeartbeat(
        lambda: dataset_import_heartbeat(
            import_id=import_id, worker=worker, rows_read=counter.rows, bytes_read=counter.bytes
        ),
        period=min(settings.STUDIO_PROGRESS_INTERVAL_SECONDS, settings.STUDIO_IMPORT_LEASE_SECONDS / 4),
        name=f"import-heartbeat-{import_id}",
    )
    options = record.options
    try:
        with heartbeat, open(record.staged_path, "rb") as staged:
            counter.stream, counter.lost = staged, heartbeat.lost
            version = upload_ingest(
                stream=counter,
                plan=UploadPlan(fmt=record.source_format, new_dataset=options.get("new_dataset")),
                project=record.project,
                dataset=record.dataset,
                user=record.created_by,
                filename=record.source_filename,
                column_mapping=options.get("column_mapping"),
                split_seed=options.get("split_seed", 13),
                split_ratios=options.get("split_ratios"),
                within=lambda version: _succeed(record, worker=worker, version=version, rows=counter.rows),
            )
    except _LeaseLost:
        logger.warning("Dataset import %s was taken over by another worker; this one stops", import_id)
        return None
    except ApplicationError as error:
        details = error.details if isinstance(error.details, dict) else {}
        _fail(
            import_id,
            guard=leases.held_by(worker),
            code=error.code,
            message=error.message,
            errors=details.get("errors") or _field_errors(details),
        )
        return None
    except Exception:
        logger.exception("Dataset import %s failed", import_id)
        _fail(import_id, guard=leases.held_by(worker), code="import_failed", message=FAILED_UNEXPECTEDLY)
        return None
    record.staged_path.unlink(missing_ok=True)
    return version


def _field_errors(details: dict) -> list[dict]:
    """A field error ({field: [messages]}) as the error list an import shows (no line)."""
    return [
        {"code": "invalid", "message": str(message), "line": None, "field": field}
        for field, messages in details.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]


def _succeed(record: DatasetImport, *, worker: str, version: DatasetVersion, rows: int) -> None:
    """Inside the version's transaction: settle the import with it, or undo everything if the lease is
    no longer this worker's."""
    if not leases.lease_settle(
        DatasetImport.objects,
        pk=record.pk,
        status=ImportStatus.SUCCEEDED,
        guard=leases.held_by(worker),
        dataset_version=version,
        rows_read=max(rows, version.row_count),
        bytes_read=record.size_bytes,
    ):
        raise _LeaseLost
    audit_event_record(
        actor=None,
        action="dataset_import.succeeded",
        target=record,
        payload={"dataset_version": version.pk, "rows": version.row_count, "sha256": version.sha256},
    )


def _fail(import_id: int, *, guard: Q, code: str, message: str, errors: list | None = None) -> bool:
    """Settle the import as failed with its reasons and remove the staged file, or do nothing when
    `guard` no longer holds (another worker took the import over)."""
    with transaction.atomic():
        if not leases.lease_settle(
            DatasetImport.objects,
            pk=import_id,
            status=ImportStatus.FAILED,
            guard=guard,
            error_code=code[:50],
            error_message=message,
            errors=list(errors or []),
        ):
            return False
        record = DatasetImport.objects.select_related("project__team").get(pk=import_id)
        audit_event_record(
            actor=None,
            action="dataset_import.failed",
            target=record,
            payload={"code": code, "message": message[:300], "errors": len(errors or [])},
        )
    record.staged_path.unlink(missing_ok=True)
    return True


def _fail_exhausted(record: DatasetImport, *, guard: Q) -> None:
    _fail(
        record.pk,
        guard=guard,
        code="worker_lost",
        message=(
            f"The worker checking this file was lost {record.attempt} times (limit {record.max_attempts})."
        ),
    )


def dataset_imports_redispatch_waiting() -> list[int]:
    """Send again every import queued for longer than STUDIO_REDISPATCH_SECONDS (its message may be lost)."""
    return leases.leases_redispatch(
        DatasetImport.objects.all(),
        waited_seconds=settings.STUDIO_REDISPATCH_SECONDS,
        dispatch=dataset_import_enqueue,
    )


def dataset_imports_reap_stale() -> list[int]:
    """Requeue (or fail, past the attempt cap) every running import whose lease has lapsed."""
    return leases.leases_reap(
        DatasetImport.objects.all(),
        on_requeued=dataset_import_enqueue,
        on_exhausted=lambda record, now: _fail_exhausted(record, guard=leases.lapsed_before(now)),
    )
