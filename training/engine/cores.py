"""A host's cores shared by the ML processes that run on it: each one's torch threads are its share.

OpenMP threads that wait for a core another process holds stall every parallel region of a step: a
LoRA step that took ~2.4 s alone took 5-40 s while another worker on the same two cores ran a short
job. So every ML process on a host (training, evaluation, prediction) registers a claim in one folder
(the data dir's ``cores/`` on the embedded default); each live claim gets an equal share of the host's
cores, and a long run re-reads its share between steps: alone it uses every core, next to another
process the two split them, and when the other ends it takes them back.

A claim is a file its process holds an exclusive ``flock`` on, so a killed process's claim is seen as
dead at once (its lock went with it) and removed by the next process that counts. Nothing here
imports Django; the caller names the folder.

OpenMP threads that run out of work spin for a bounded time, then sleep (``bound_openmp_spinning``, called
by ``training.engine`` and the Celery app before torch loads): a step's kernels follow each other within
microseconds, so a short spin keeps the threads awake between them, and a thread with nothing to do soon
stops holding a core. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``, the setting until 2026-12-02) made
every parallel region wake its threads through the kernel: a LoRA step took 25-45 % longer on the
2-core VMs measured, alone or not.
"""

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

# Cores this host gives to ML work (default: every core this process may run on).
CORES_ENV = "STUDIO_ML_CORES"
_SUFFIX = ".claim"
# How long an idle OpenMP thread of GNU OpenMP (torch's CPU runtime) spins before it sleeps: iterations of
# its wait loop, tens of microseconds (its own default is 300,000 when OMP_WAIT_POLICY is unset).
SPIN_COUNT = "30000"


def bound_openmp_spinning(environ=os.environ) -> None:
    """Idle OpenMP threads spin briefly, then sleep; read once, when torch loads its OpenMP runtime, so
    call this before torch is imported. A wait policy or spin count set by the operator is kept."""
    if "OMP_WAIT_POLICY" not in environ:
        environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def host_cores() -> int:
    """The host's ML core budget: STUDIO_ML_CORES, else the cores this process may run on."""
    configured = os.environ.get(CORES_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError as error:
            raise ValueError(f"{CORES_ENV} must be a whole number of cores, not {configured!r}") from error
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class CoreClaim:
    """This process's place in the host's core registry; ``threads()`` is its current share."""

    def __init__(self, directory: Path, kind: str, cores: int | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cores = cores or host_cores()
        # Named by start time, so the cores a split leaves over go to the claims that came first.
        name = f"{time.time_ns():020d}-{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        pending = self.directory / f"{name}.pending"
        self._handle = open(pending, "w")  # noqa: SIM115 - held open: the lock lives as long as the claim
        fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = self.directory / f"{name}{_SUFFIX}"
        os.replace(pending, self.path)  # visible to others only once locked, so never mistaken for dead

    def live_claims(self) -> list[Path]:
        """Every claim whose process still holds it, oldest first; dead ones are removed."""
        live = []
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            if path == self.path:
                live.append(path)
                continue
            try:
                with open(path) as other:
                    fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                live.append(path)
                continue
            except FileNotFoundError:
                continue
            path.unlink(missing_ok=True)  # its process ended without releasing it
        return live

    def threads(self) -> int:
        """This claim's share: the cores split evenly, the remainder to the oldest claims, at least one."""
        live = self.live_claims()
        share, remainder = divmod(self.cores, len(live))
        position = live.index(self.path) if self.path in live else len(live)
        return max(1, share + (1 if position < remainder else 0))

    def apply(self) -> int:
        """Set torch's intra-op threads to this claim's current share (only when it changed)."""
        import torch

        threads = self.threads()
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads

    def release(self) -> None:
        if self._handle.closed:
            return
        self.path.unlink(missing_ok=True)
        self._handle.close()


_current: CoreClaim | None = None


@contextlib.contextmanager
def claim(directory: Path | None, kind: str, cores: int | None = None) -> Iterator[CoreClaim | None]:
    """Register this process's ML work on the host for the block; ``rebalance()`` follows the claim.

    ``directory`` None means no registry (the process keeps every core, as a lone worker would); inside
    a claim of this process, its work is part of that claim (a second one would halve its own share).
    """
    global _current
    if directory is None or _current is not None:
        yield _current
        return
    outer = _current
    current = CoreClaim(directory, kind, cores)
    _current = current
    try:
        current.apply()
        yield current
    finally:
        _current = outer
        current.release()


def rebalance() -> int | None:
    """Re-read this process's share and set torch's threads to it; None when no claim is held.

    Long loops call it between steps (a few file operations: cheap next to a step).
    """
    return _current.apply() if _current is not None else None
