"""Which version each endpoint serves now, kept in step with the database by one poller thread.

Every ``poll_seconds`` the poller reads the active endpoints' production (and shadow, canary) versions,
loads the versions the engine does not hold yet, swaps the routing table in one assignment, and only
then unloads the versions nothing routes to any more; the engine lets their in-flight requests finish
first. A request that looked up the old table just before the swap and reaches the engine after the
unload is retried once on the new table (``Pipeline``), so a promotion or a rollback drops nothing.
A version that fails to load leaves the endpoint on the version it served before (if any).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

from serving.engine.errors import ServingError
from serving.inference.control import ControlPlane, EndpointState, VersionRef
from serving.inference.errors import ApiError

log = logging.getLogger(__name__)
RETRY_FAILED_LOAD_SECONDS = 60.0
STARTING_RETRY_AFTER_SECONDS = 2


class Deployments:
    def __init__(self, engine, control: ControlPlane, *, poll_seconds: float = 1.0):
        self.engine = engine
        self.control = control
        self.poll_seconds = poll_seconds
        self._table: dict[str, EndpointState] = {}
        self._loaded: set[str] = set()
        self._failed: dict[str, float] = {}  # version name -> when its load failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()  # set after the first complete sync: the process is ready
        self.switches = 0  # routing-table swaps that changed some endpoint's production version

    # -- reads (any thread) ----------------------------------------------------------------------
    def raise_unless_started(self) -> None:
        """A 503 while the first sync has not finished: the table is empty because nothing is loaded yet,
        not because the endpoints do not exist (a restarted process is listening before its models are
        loaded)."""
        if not self.synced.is_set():
            raise ApiError(
                503,
                "starting",
                "The server is starting and still loading its models; retry shortly.",
                retry_after=STARTING_RETRY_AFTER_SECONDS,
            )

    def get(self, slug: str) -> EndpointState | None:
        return self._table.get(slug)

    def table(self) -> dict[str, EndpointState]:
        return self._table

    # -- the poller ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="deployments", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception:  # the database or the engine failing must not stop the poller
                log.exception("could not sync the endpoints' versions; serving the previous ones")
            self._stop.wait(self.poll_seconds)

    def sync(self) -> None:
        """One round: load what is wanted, swap the table, unload what nothing routes to."""
        states = self.control.endpoint_states()
        previous = self._table
        table: dict[str, EndpointState] = {}
        for slug, state in states.items():
            if self._ensure_loaded(state.production):
                table[slug] = _without_unloadable(state, self._ensure_loaded)
            elif slug in previous:
                table[slug] = previous[slug]  # the new version failed to load: keep the old one
        self.switches += sum(
            1
            for slug, state in table.items()
            if slug in previous and previous[slug].production.id != state.production.id
        )
        self._table = table
        routed = {version.name for state in table.values() for version in state.versions()}
        for name in sorted(self._loaded - routed):
            self._unload(name)
        self.synced.set()

    def _ensure_loaded(self, version: VersionRef) -> bool:
        if version.name in self._loaded:
            return True
        failed_at = self._failed.get(version.name)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_LOAD_SECONDS:
            return False
        try:
            base = self.control.base_model_path(version)
            if version.baseline:
                self.engine.load_base(version.name, base, training_config=version.training_config)
            else:
                self.engine.load(version.name, Path(version.artifacts_dir), base_model=base)
        except (ServingError, OSError, ValueError) as error:
            log.error("could not load model version %s: %s", version.id, error)
            self._failed[version.name] = time.monotonic()
            return False
        self._failed.pop(version.name, None)
        self._loaded.add(version.name)
        log.info("loaded model version %s as %s", version.id, version.name)
        return True

    def _unload(self, name: str) -> None:
        try:
            self.engine.unload(name)
        except ServingError as error:
            log.warning("unloading %s: %s", name, error)
        self._loaded.discard(name)
        log.info("unloaded %s", name)


def _without_unloadable(state: EndpointState, ensure_loaded) -> EndpointState:
    """The state with its shadow and canary dropped when they cannot be loaded (production still serves)."""
    shadow = state.shadow if state.shadow and ensure_loaded(state.shadow) else None
    canary = state.canary if state.canary and ensure_loaded(state.canary) else None
    return replace(state, shadow=shadow, canary=canary, canary_percent=state.canary_percent if canary else 0)
