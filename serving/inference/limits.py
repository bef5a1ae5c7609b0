"""The inference process's own bounds: keys checked at most once per cache period, a rate per key, and a
cap on the requests being answered at once. Each structure is bounded by a count, never by the load."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict

from serving.inference.control import ControlPlane, KeyGrant


class KeyCache:
    """A key's check, trusted for ``ttl`` seconds (at most 1 s, so a revocation bites within a second).

    Unknown keys are cached too, so a client hammering with a wrong key does not hammer the database.
    Entries are keyed by the key's SHA-256; the least recently used go first past ``size``.
    """

    def __init__(self, control: ControlPlane, *, ttl: float, size: int):
        self.control = control
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, KeyGrant | None]] = OrderedDict()

    def grant(self, secret: str) -> KeyGrant | None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(digest)
            if cached is not None and cached[0] > now:
                self._entries.move_to_end(digest)
                return cached[1]
        grant = self.control.authenticate(secret)
        with self._lock:
            self._entries[digest] = (now + self.ttl, grant)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return grant


class FailedKeyThrottle:
    """Wrong keys per client address: after ``limit`` of them within ``window`` seconds the address waits
    (429 with Retry-After) before its next key is even checked, so keys cannot be guessed at the server's
    speed; while it waits a right key answers the same. At most ``size`` addresses are remembered."""

    def __init__(self, *, limit: int, window: float, size: int = 100_000):
        self.limit = limit
        self.window = window
        self.size = size
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> list[float]:
        return [at for at in self._failures.get(address, ()) if at > now - self.window]

    def wait(self, address: str) -> int | None:
        """None when the address may present a key now; otherwise the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(address, now)
            if len(recent) < self.limit:
                return None
            return max(1, math.ceil(recent[-self.limit] + self.window - now))

    def failed(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[address] = [*self._recent(address, now), now][-self.limit :]
            self._failures.move_to_end(address)
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)


class RateLimiter:
    """A token bucket per key: ``rate_limit_per_minute`` requests a minute, bursts up to that many."""

    def __init__(self, *, size: int = 100_000):
        self.size = size
        self._lock = threading.Lock()
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()  # key id -> (tokens, at)

    def take(self, grant: KeyGrant) -> int | None:
        """None when the request may go; otherwise the seconds to wait before the next one."""
        capacity = float(grant.rate_limit_per_minute)
        per_second = capacity / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(grant.id, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * per_second)
            if tokens >= 1:
                self._buckets[grant.id] = (tokens - 1, now)
                wait = None
            else:
                self._buckets[grant.id] = (tokens, now)
                wait = max(1, math.ceil((1 - tokens) / per_second))
            self._buckets.move_to_end(grant.id)
            while len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
        return wait


class InFlight:
    """Requests being answered now; past ``limit`` a new one is refused (503) instead of waiting."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self.count = 0

    def try_enter(self) -> bool:
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


class Slot:
    """One admitted request's place in ``InFlight``, given back exactly once (however the request ends)."""

    def __init__(self, in_flight: InFlight):
        self._in_flight = in_flight
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._in_flight.leave()

    def __del__(self) -> None:
        self.release()
