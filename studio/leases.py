"""Work leases: a queued row that one worker at a time runs, with a heartbeat, a reaper and an attempt cap.

A row (a training job, an evaluation run) is `queued`, then `running` while a worker holds its lease,
then settled in a terminal status. The worker renews the lease with each heartbeat; when a worker is
lost its lease lapses and any worker's reaper puts the row back in the queue, until its attempts run
out. Every transition below is a single conditional UPDATE … WHERE, so two workers can never both hold
a lease and a worker that lost its lease can never write, on SQLite as on PostgreSQL.

The functions take the model's queryset and the row's id; the caller's app adds its own events and
audit records in the same transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from studio.db import CONNECTION_ERRORS, on_a_live_connection
from studio.models import TimeStampedModel

logger = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
UNSETTLED = (QUEUED, RUNNING)


class LeasedModel(TimeStampedModel):
    """Abstract: the lease of a row that workers run. Subclasses define a `status` field whose choices
    include "queued" and "running" besides their terminal statuses."""

    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


def held_by(worker: str) -> Q:
    """Rows whose lease `worker` holds right now."""
    return Q(status=RUNNING, lease_owner=worker)


def lease_start(
    queryset: models.QuerySet,
    *,
    pk: int,
    worker: str,
    seconds: int,
    on_exhausted: Callable[[models.Model], object],
    on_cancelled: Callable[[models.Model], object] | None = None,
    on_started: Callable[[models.Model], object] | None = None,
) -> bool:
    """A worker's first step on a row, inside the caller's transaction: whether it now holds the lease.

    No when the row is gone or settled, when a cancel was asked for (rows that can be cancelled have a
    `cancel_requested_at`; `on_cancelled` settles them), when its attempts are used up (`on_exhausted`
    fails it) or another worker took it. Yes, with `on_started` run, when it took the lease; and yes when
    the lease is already this worker's: the same start, run again after its commit was acknowledged on a
    connection that was then lost (`studio.db`)."""
    row = queryset.filter(pk=pk).first()
    if row is None or row.is_terminal:
        return False
    if row.status == RUNNING and row.lease_owner == worker:  # `held_by`, for the row loaded
        return True
    if on_cancelled is not None and row.cancel_requested_at is not None:
        on_cancelled(row)
        return False
    if row.attempt >= row.max_attempts:
        on_exhausted(row)
        return False
    if not lease_claim(queryset, pk=pk, worker=worker, seconds=seconds):
        return False
    if on_started is not None:
        on_started(row)
    return True


def lapsed_before(now: datetime) -> Q:
    """Running rows whose lease ran out before `now`: their worker stopped renewing it."""
    return Q(status=RUNNING, lease_expires_at__lt=now)


def lease_claim(queryset: models.QuerySet, *, pk: int, worker: str, seconds: int) -> bool:
    """Take the lease of a queued row, or of a running one whose lease lapsed, below its attempt cap.

    One UPDATE whose WHERE re-checks all of that, so of two workers racing for a row only one matches."""
    now = timezone.now()
    return bool(
        queryset.filter(Q(status=QUEUED) | lapsed_before(now), pk=pk, attempt__lt=F("max_attempts")).update(
            status=RUNNING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=seconds),
            heartbeat_at=now,
            attempt=F("attempt") + 1,
            started_at=Coalesce(F("started_at"), now),
            updated_at=now,
        )
    )


def lease_renew(queryset: models.QuerySet, *, pk: int, worker: str, seconds: int, **fields) -> bool:
    """The heartbeat: extend the lease and write `fields` (progress, a checkpoint step…) in one UPDATE.

    It matches only while `worker` holds the lease, so a worker whose row was taken over (or settled)
    writes nothing and learns from the False that it must stop."""
    now = timezone.now()
    return bool(
        queryset.filter(held_by(worker), pk=pk).update(
            lease_expires_at=now + timedelta(seconds=seconds), heartbeat_at=now, updated_at=now, **fields
        )
    )


def lease_settle(queryset: models.QuerySet, *, pk: int, status: str, guard: Q, **fields) -> bool:
    """Move an unsettled row to its terminal `status` and drop its lease, writing `fields` with it.

    One UPDATE that matches only while the row is unsettled and `guard` holds (`held_by(worker)` for
    the worker running it, `lapsed_before(now)` for a reaper, `Q()` for a row no worker holds), so a
    row is settled once, by whoever still has the right to."""
    now = timezone.now()
    return bool(
        queryset.filter(guard, pk=pk, status__in=UNSETTLED).update(
            status=status, finished_at=now, lease_owner="", lease_expires_at=None, updated_at=now, **fields
        )
    )


def lease_release(queryset: models.QuerySet, *, pk: int, now: datetime) -> bool:
    """Put a row whose worker was lost back in the queue (its next claim counts one more attempt).

    One UPDATE that matches only while the lease is still lapsed, so a worker that renewed it in the
    meantime keeps its row."""
    return bool(
        queryset.filter(lapsed_before(now), pk=pk).update(
            status=QUEUED, lease_owner="", lease_expires_at=None, updated_at=now
        )
    )


def leases_reap(
    queryset: models.QuerySet,
    *,
    on_requeued: Callable[[models.Model], None],
    on_exhausted: Callable[[models.Model, datetime], None],
) -> list[int]:
    """The reaper's pass over every row whose lease lapsed: below the attempt cap it is released back
    to the queue and `on_requeued(row)` runs in the same transaction (to record it and enqueue it
    again); at the cap `on_exhausted(row, now)` settles it (guard it with `lapsed_before(now)`).
    Returns the ids put back in the queue."""
    now = timezone.now()
    requeued = []
    for row in queryset.filter(lapsed_before(now)):
        if row.attempt >= row.max_attempts:
            on_exhausted(row, now)
            continue
        with transaction.atomic():
            if lease_release(queryset, pk=row.pk, now=now):
                on_requeued(row)
                requeued.append(row.pk)
    return requeued


def send_on_commit(task, *args) -> None:
    """Send `task(*args)` once the current transaction commits.

    The row is the truth and the message only a nudge: when the broker is down (Redis restarting) the
    send is logged and the request still answers with the queued row; `leases_redispatch` sends it
    again once it has waited too long, as it does for a message the broker lost."""

    def send() -> None:
        try:
            task.delay(*args)
        except (KombuOperationalError, OSError):
            logger.exception("Could not send %s%s to the broker; it is sent again later", task.name, args)

    transaction.on_commit(send)


def leases_redispatch(
    queryset: models.QuerySet, *, waited_seconds: float, dispatch: Callable[[models.Model], None]
) -> list[int]:
    """Send again every queued row that has waited `waited_seconds` since it was queued or last sent.

    Its message may be gone: a Redis restarted without persistence loses its queues, and a send fails
    while the broker is down. A row whose message was only slow gets a second one, which does nothing:
    the lease lets one delivery claim the row and the others find it running or settled. Each row is
    marked sent in one conditional UPDATE, so two reapers never both send it. Returns the ids sent."""
    now = timezone.now()
    sent = []
    waiting = queryset.filter(status=QUEUED, updated_at__lt=now - timedelta(seconds=waited_seconds))
    for row in waiting:
        with transaction.atomic():
            if queryset.filter(pk=row.pk, status=QUEUED, updated_at=row.updated_at).update(updated_at=now):
                dispatch(row)
                sent.append(row.pk)
    return sent


def worker_identity() -> str:
    """A name for this worker that no other worker shares: host, process and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseHeartbeat:
    """A thread that calls `renew()` every `period` seconds while the work runs, so the lease stays
    live even while one long step (a tokenizer batch, a split, a training step) holds the main thread.

    `renew` is the app's lease-checked heartbeat service (it may write progress with it); once it
    answers False the lease is another worker's, `lost` is set and the thread stops: the work must
    stop at its next check without writing anything."""

    def __init__(self, renew: Callable[[], bool], *, period: float, name: str = "heartbeat"):
        self.renew = renew
        self.period = max(0.05, period)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.period):
                try:
                    held = on_a_live_connection(self.renew)
                except CONNECTION_ERRORS:  # the database is away: beat again; the lease may lapse meanwhile
                    logger.exception("Could not renew the lease; trying again in %s s", self.period)
                    continue
                if not held:
                    self.lost.set()
                    return
        finally:
            connection.close()


# The reapers every worker runs (see `studio.tasks`): each app registers the function that reaps its
# leased rows, so one thread per worker serves training jobs, dataset imports and evaluation runs alike.
_reapers: dict[str, Callable[[], list[int]]] = {}


def reaper_register(name: str, reap: Callable[[], list[int]]) -> None:
    """Have every worker call `reap()` (it returns the ids it put back in the queue) on each pass."""
    _reapers[name] = reap


def reapers_run() -> dict[str, list[int]]:
    """One pass of every registered reaper; a reaper that fails is logged and the others still run.
    Returns, by reaper name, the ids each put back in the queue or sent again."""
    requeued = {}
    for name, reap in list(_reapers.items()):
        try:
            ids = on_a_live_connection(reap)  # each pass is conditional UPDATEs: safe to run again
        except Exception:  # the reaper must outlive a database hiccup
            logger.exception("Reaper pass for %s failed", name)
            continue
        if ids:
            logger.warning("Requeued %s: %s", name, ids)
            requeued[name] = ids
    return requeued
