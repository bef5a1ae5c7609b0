"""The thread that owns one model runtime: dynamic batching of every request for that model.

Each round, at a step boundary: run queued commands (adapter loads and unloads), drop cancelled and
expired requests, score the waiting classification requests as one batch, prefill the generation
requests that fit in the free rows and merge them into the running batch, then decode one token for
every row together. Finished rows leave at once. Nothing is kept per request after it ends, and the
waiting queue is bounded, so memory does not grow with load.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass

from serving.engine.config import EngineLimits
from serving.engine.embedded.kv import KVBatch, decode_step, prefill
from serving.engine.embedded.labels import score_label_batch
from serving.engine.embedded.runtime import BASE, ModelRuntime
from serving.engine.embedded.sampling import choose, constrain
from serving.engine.embedded.work import GenerationWork, LabelWork, Work
from serving.engine.errors import (
    BackendUnavailable,
    ConstraintFailed,
    EngineClosed,
    Overloaded,
    Timeout,
    UnknownAdapter,
)
from serving.engine.scoring import classification

logger = logging.getLogger(__name__)


@dataclass
class BatchStats:
    """Counters of what the scheduler batched (read by health checks and tests)."""

    decode_steps: int = 0
    prefills: int = 0
    admitted: int = 0
    joined_running_batch: int = 0  # admitted while other rows were decoding
    max_rows: int = 0  # most rows decoded together in one step
    classify_batches: int = 0
    classified: int = 0
    max_classify_batch: int = 0
    tokens_generated: int = 0


class _Group:
    """Requests prefilled together: at most ``rows`` of them and ``tokens`` padded prompt tokens
    (the first one always fits, whatever its length)."""

    def __init__(self, rows: int, tokens: int):
        self.rows = rows
        self.tokens = tokens
        self.works: list = []
        self._longest = 0

    def add(self, work: Work) -> bool:
        longest = max(self._longest, len(work.prompt_ids))
        if len(self.works) >= self.rows or (self.works and longest * (len(self.works) + 1) > self.tokens):
            return False
        self.works.append(work)
        self._longest = longest
        return True


class Scheduler:
    def __init__(self, runtime: ModelRuntime, limits: EngineLimits):
        self.runtime = runtime
        self.limits = limits
        self.stats = BatchStats()
        self._condition = threading.Condition()
        self._waiting: deque[Work] = deque()
        self._commands: deque[tuple[Callable, Future]] = deque()
        self._unloads: dict[str, Future] = {}
        self._rows: list[GenerationWork] = []
        self._batch: KVBatch | None = None
        self._pending: list[int] = []  # per row: the token chosen last, fed at the next decode step
        self._closing = False
        self._abort = False
        self._thread = threading.Thread(target=self._run, name=f"serving-{runtime.path.name}", daemon=True)
        self._thread.start()

    # -- called from request threads -------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._rows)

    def submit(self, work: Work) -> None:
        with self._condition:
            if self._closing or not self.alive:
                raise EngineClosed("the engine is shutting down and takes no new requests")
            free_rows = max(0, self.limits.max_batch_size - len(self._rows))
            if len(self._waiting) >= self.limits.max_queue + free_rows:
                raise Overloaded(
                    f"{len(self._waiting)} requests are already waiting; retry shortly",
                    retry_after=self.limits.retry_after_seconds,
                )
            self._waiting.append(work)
            self._condition.notify()

    def call(self, function: Callable) -> Future:
        """Run ``function()`` on the scheduler thread at the next step boundary."""
        future: Future = Future()
        with self._condition:
            if not self.alive:
                raise EngineClosed("the engine is stopped")
            self._commands.append((function, future))
            self._condition.notify()
        return future

    def remove_adapter_when_idle(self, adapter: str) -> Future:
        """Delete the adapter once no waiting or decoding request uses it (in-flight ones finish)."""
        future: Future = Future()
        self.call(lambda: self._unloads.setdefault(adapter, future))
        return future

    def close(self, timeout: float | None = None) -> None:
        """Finish every admitted request, then stop; after ``timeout`` seconds the rest fail."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._condition:
                self._abort = True
                self._condition.notify()
            self._thread.join()

    # -- the scheduler thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._round():
                pass
        finally:
            closed = EngineClosed("the engine stopped before answering")
            with self._condition:
                self._closing = True
                for work in [*self._waiting, *self._rows]:
                    work.fail(closed)
                for _, future in self._commands:
                    future.set_exception(closed)
                for future in self._unloads.values():
                    future.set_result(None)

    def _idle(self) -> bool:
        return not (self._waiting or self._commands or self._rows or self._unloads)

    def _round(self) -> bool:
        with self._condition:
            while self._idle() and not self._closing:
                self._condition.wait()
            if self._abort or (self._closing and self._idle()):
                return False
            commands = list(self._commands)
            self._commands.clear()
            self._drop_finished_waiting(time.monotonic())
            newcomers, label_works = self._admit()
        for function, future in commands:
            try:
                future.set_result(function())
            except Exception as error:
                future.set_exception(error)
        if label_works:
            self._guarded(label_works, lambda: self._classify(label_works), batch=False)
        if newcomers:
            self._guarded(newcomers, lambda: self._join(newcomers), batch=True)
        if self._rows:
            self._drop_finished_rows(time.monotonic())
        if self._rows:
            self._guarded([], self._decode, batch=True)
        self._finish_unloads()
        return True

    def _drop_finished_waiting(self, now: float) -> None:
        kept: deque[Work] = deque()
        for work in self._waiting:
            if work.cancelled:
                continue
            if work.expired(now):
                work.fail(Timeout("the request's deadline passed while it waited for the model"))
            elif work.adapter != BASE and work.adapter not in self.runtime.adapters:
                work.fail(UnknownAdapter("the model this request asked for was unloaded"))
            else:
                kept.append(work)
        self._waiting = kept

    def _admit(self) -> tuple[list[GenerationWork], list[LabelWork]]:
        """Take the generation requests that fit in free rows and up to a batch of classifications,
        each group within the prefill budget (its padded prompt tokens); the rest keep their place."""
        newcomers = _Group(self.limits.max_batch_size - len(self._rows), self.limits.max_prefill_tokens)
        label_works = _Group(self.limits.max_batch_size, self.limits.max_prefill_tokens)
        kept: deque[Work] = deque()
        for work in self._waiting:
            group = label_works if isinstance(work, LabelWork) else newcomers
            if not group.add(work):
                kept.append(work)
        self._waiting = kept
        return newcomers.works, label_works.works

    def _guarded(self, works: list[Work], step: Callable[[], None], *, batch: bool) -> None:
        """A failed step fails the requests it served (and the whole running batch, whose cache may be
        half-updated), never the scheduler."""
        try:
            step()
        except Exception as error:
            logger.exception("serving step failed")
            failure = BackendUnavailable(
                f"the model failed while answering ({type(error).__name__}: {error})"
            )
            affected = {id(work): work for work in [*works, *(self._rows if batch else [])]}
            for work in affected.values():
                work.fail(failure)
            if batch:
                self._rows, self._pending, self._batch = [], [], None

    def _classify(self, works: list[LabelWork]) -> None:
        results = score_label_batch(
            self.runtime,
            works,
            shortlist=self.limits.label_shortlist,
            rows_per_forward=self.limits.label_rows_per_forward,
        )
        for work, scores in zip(works, results, strict=True):
            work.events.put(
                classification(
                    scores,
                    work.sequences,
                    temperature=work.temperature,
                    prompt_tokens=len(work.prompt_ids),
                )
            )
        self.stats.classify_batches += 1
        self.stats.classified += len(works)
        self.stats.max_classify_batch = max(self.stats.max_classify_batch, len(works))

    def _join(self, newcomers: list[GenerationWork]) -> None:
        """Prefill the newcomers together and merge them into the running batch."""
        batch, logits = prefill(
            self.runtime, [work.prompt_ids for work in newcomers], [w.adapter for w in newcomers]
        )
        self.stats.prefills += 1
        self.stats.admitted += len(newcomers)
        if self._rows:
            self.stats.joined_running_batch += len(newcomers)
        if self._batch is None:
            self._batch = batch
        else:
            self._batch.extend(batch)
        self._rows.extend(newcomers)
        self._advance(logits, first=len(self._rows) - len(newcomers))

    def _decode(self) -> None:
        self.stats.decode_steps += 1
        self.stats.max_rows = max(self.stats.max_rows, len(self._rows))
        logits = decode_step(self.runtime, self._batch, self._pending, [work.adapter for work in self._rows])
        self._advance(logits, first=0)

    def _advance(self, logits, *, first: int) -> None:
        """Choose the next token of rows ``first:`` from their logits, stream it, drop finished rows."""
        rows = self._rows[first:]
        stuck = set(constrain(logits, [work.constraint for work in rows]))
        tokens = choose(
            logits,
            [work.temperature for work in rows],
            [work.top_p for work in rows],
            [work.generator for work in rows],
        )
        pending = self._pending[:first] if first else []
        finished = set()
        for offset, (work, token) in enumerate(zip(rows, tokens, strict=True)):
            if offset in stuck:
                work.fail(
                    ConstraintFailed("the request's constraint allowed no token before it was complete")
                )
                finished.add(first + offset)
            elif work.accept(token):
                finished.add(first + offset)
            pending.append(token)
        self.stats.tokens_generated += len(rows)
        self._pending = pending
        if finished:
            self._keep([index for index in range(len(self._rows)) if index not in finished])

    def _drop_finished_rows(self, now: float) -> None:
        keep = []
        for index, work in enumerate(self._rows):
            if work.expired(now):
                work.fail(Timeout("the request's deadline passed while it was being answered"))
            elif not work.cancelled:
                keep.append(index)
        if len(keep) < len(self._rows):
            self._keep(keep)

    def _keep(self, indices: list[int]) -> None:
        self._rows = [self._rows[index] for index in indices]
        self._pending = [self._pending[index] for index in indices]
        if self._rows:
            self._batch.keep(indices)
        else:
            self._batch = None

    def _finish_unloads(self) -> None:
        for adapter in list(self._unloads):
            with self._condition:
                in_use = any(work.adapter == adapter for work in [*self._waiting, *self._rows])
            if in_use:
                continue
            future = self._unloads.pop(adapter)
            try:
                self.runtime.remove_adapter(adapter)
                future.set_result(None)
            except Exception as error:
                future.set_exception(error)

    def stats_dict(self) -> dict:
        return asdict(self.stats)
