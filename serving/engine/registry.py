"""The names an engine serves, and whether it still takes requests (the same rules for every backend)."""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from serving.engine.errors import AdapterExists, EngineClosed, UnknownAdapter
from serving.engine.protocol import AdapterInfo

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    """Loaded names and their backend entries (each with an ``info: AdapterInfo``), under one lock.

    A request looks its name up, prepares itself outside the lock, then is admitted only if the name
    still maps to the same entry: an unload therefore either sees the request in flight or refuses it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self.closed = False

    def check_new(self, name: str) -> None:
        with self._lock:
            if self.closed:
                raise EngineClosed("the engine is shutting down")
            if name in self._entries:
                raise AdapterExists(f"{name!r} is already loaded; unload it first or use another name")

    def add(self, name: str, entry: Entry) -> AdapterInfo:
        with self._lock:
            self._entries[name] = entry
        return entry.info

    def pop(self, name: str) -> Entry:
        with self._lock:
            entry = self._entries.pop(name, None)
        if entry is None:
            raise UnknownAdapter(f"no model is loaded under {name!r}")
        return entry

    def lookup(self, name: str) -> Entry:
        with self._lock:
            if self.closed:
                raise EngineClosed("the engine is shutting down and takes no new requests")
            entry = self._entries.get(name)
        if entry is None:
            raise UnknownAdapter(f"no model is loaded under {name!r}")
        return entry

    def admit(self, name: str, entry: Entry, enter: Callable[[], None]) -> None:
        """Run ``enter()`` (queue the request) if ``name`` is still served by ``entry``."""
        with self._lock:
            if self._entries.get(name) is not entry:
                raise UnknownAdapter(f"no model is loaded under {name!r}")
            enter()

    def entries(self) -> dict[str, Entry]:
        with self._lock:
            return dict(self._entries)

    def infos(self) -> list[AdapterInfo]:
        return [entry.info for entry in self.entries().values()]

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
