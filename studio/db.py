"""Database connections of long-lived threads (workers' jobs and heartbeats, the inference process)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, close_old_connections, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")
CONNECTION_ERRORS = (OperationalError, InterfaceError)
TRIES = 3
_running = threading.local()


def on_a_live_connection(call: Callable[[], T]) -> T:
    """Run `call` on this thread's connection, and again on a new one (up to `TRIES` in all) if that
    connection was lost meanwhile (PostgreSQL restarted or failed over, a connection dropped).

    Outside a request nothing else notices a dead connection: Django checks (and replaces) it only at a
    request's start and end. The health check here cannot see a drop during the call itself, hence the
    further tries. Use it for reads and for writes made in one transaction (a lease-guarded UPDATE, a log
    row): the lost connection rolled that transaction back, so running it again is safe. (A commit whose
    answer was lost is the exception: the caller must recognise its own write, as the claims do.)

    A loss can surface as another error: Django's constraint checks (`full_clean`) log the database
    error and report the constraint violated, and the transaction's end opens a new connection. So any
    error counts as the loss when one of the call's statements met a lost connection.

    Inside a caller's transaction, or inside another such call, it only runs `call`: the transaction,
    or the retry, is the caller's."""
    if connection.in_atomic_block or getattr(_running, "active", False):
        return call()
    _running.active = True
    try:
        for attempt in range(1, TRIES + 1):
            close_old_connections()
            try:
                return _noting_lost_connections(call)
            except _LostConnection as lost:
                if attempt == TRIES:
                    raise lost.error from None
                logger.warning(
                    "The database connection was lost; trying again on a new one (%s of %s)",
                    attempt + 1,
                    TRIES,
                    exc_info=lost.error,
                )
                connection.close()
    finally:
        _running.active = False


class _LostConnection(Exception):
    """A try that met a lost connection; `error` is a connection error (whatever the call raised)."""

    def __init__(self, error: Exception):
        self.error = error


def _noting_lost_connections(call: Callable[[], T]) -> T:
    met_a_lost_connection = []

    def note(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except CONNECTION_ERRORS:
            met_a_lost_connection.append(sql)
            raise

    try:
        with connection.execute_wrapper(note):
            return call()
    except CONNECTION_ERRORS as error:
        raise _LostConnection(error) from error
    except Exception as error:
        if not met_a_lost_connection:
            raise
        lost = OperationalError(f"The database connection was lost; the call then raised {error!r}")
        lost.__cause__ = error
        raise _LostConnection(lost) from error
