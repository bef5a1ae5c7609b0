"""Request logs written by one thread from a bounded queue, after the answers have left.

Answers never wait for the database; if the database falls behind and the queue is full, entries are
dropped and counted (``slm_request_logs_dropped_total``) rather than held in memory.
"""

from __future__ import annotations

import logging
import queue
import threading

from serving.inference.control import ControlPlane, LogEntry

log = logging.getLogger(__name__)
_STOP = object()


class LogWriter:
    def __init__(self, control: ControlPlane, *, size: int, on_drop=None):
        self.control = control
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._on_drop = on_drop or (lambda: None)
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def put(self, entry: LogEntry) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._on_drop()

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is _STOP:
                return
            if isinstance(entry, threading.Event):  # a flush marker
                entry.set()
                continue
            try:
                entry.row_id = self.control.record(entry)
                self.written += 1
            except Exception:  # one bad row must not stop the log
                log.exception("could not write a request log row")
                self._on_drop()

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry queued so far is written; False if that took longer than ``timeout``."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)
