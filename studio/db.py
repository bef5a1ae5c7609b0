"""Database connections of long-lived threads (workers' jobs and heartbeats, the inference process)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, close_old_connections, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")
CONNECTION_ERRORS = (OperationalError, InterfaceError)


def on_a_live_connection(call: Callable[[], T]) -> T:
    """Run `call` on this thread's connection, and once more on a new one if that connection was lost
    meanwhile (PostgreSQL restarted or failed over, a connection dropped).

    Outside a request nothing else notices a dead connection: Django checks (and replaces) it only at a
    request's start and end. The health check here cannot see a drop during the call itself, hence the
    second try. Use it for reads and for writes made in one transaction (a lease-guarded UPDATE, a log
    row): the lost connection rolled that transaction back, so running it again is safe.

    A loss can surface as another error: Django's constraint checks (`full_clean`) log the database
    error and report the constraint violated, and the transaction's end opens a new connection. So any
    error counts as the loss when one of the call's statements met a lost connection.

    Inside a caller's transaction it only runs `call`: the transaction is the caller's to keep or lose."""
    if connection.in_atomic_block:
        return call()
    close_old_connections()
    met_a_lost_connection = []

    def note_lost_connections(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except CONNECTION_ERRORS:
            met_a_lost_connection.append(sql)
            raise

    try:
        with connection.execute_wrapper(note_lost_connections):
            return call()
    except Exception as error:
        if not (isinstance(error, CONNECTION_ERRORS) or met_a_lost_connection):
            raise
        logger.warning("The database connection was lost; trying again on a new one", exc_info=True)
        connection.close()
        return call()
