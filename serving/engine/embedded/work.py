"""Requests as the scheduler holds them, and the queue each one answers its caller through."""

import queue
import random
from collections.abc import Callable, Iterator

import torch

from serving.engine.errors import EngineClosed
from serving.engine.protocol import Chunk, Constraint, FinishReason
from serving.engine.text import IncrementalText

_POLL_SECONDS = 0.5


class Work:
    """One admitted request: its adapter (inside the model), prompt, deadline and answer queue."""

    def __init__(self, adapter: str, prompt_ids: list[int], deadline: float | None):
        self.adapter = adapter
        self.prompt_ids = prompt_ids
        self.deadline = deadline
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled = False  # set by the caller's thread, read by the scheduler's at step boundaries

    def cancel(self) -> None:
        self.cancelled = True

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def fail(self, error: Exception) -> None:
        self.events.put(error)

    def results(self, alive: Callable[[], bool]) -> Iterator:
        """What the scheduler sends, until a final item; raises the errors it sends."""
        while True:
            try:
                item = self.events.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not alive():
                    raise EngineClosed("the engine stopped before answering") from None
                continue
            if isinstance(item, Exception):
                raise item
            yield item
            if not isinstance(item, Chunk) or item.finish_reason is not None:
                return


class GenerationWork(Work):
    """A generation request decoding in the batch: its sampling settings and streamed text so far."""

    def __init__(
        self,
        adapter: str,
        prompt_ids: list[int],
        deadline: float | None,
        *,
        max_tokens: int,
        stop_ids: set[int],
        text: IncrementalText,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        constraint: Constraint | None = None,
    ):
        super().__init__(adapter, prompt_ids, deadline)
        self.max_tokens = max_tokens
        self.stop_ids = stop_ids
        self.text = text
        self.temperature = temperature
        self.top_p = top_p
        self.constraint = constraint
        self.generator = None
        if temperature > 0:
            self.generator = torch.Generator().manual_seed(
                seed if seed is not None else random.getrandbits(63)
            )
        self.generated = 0
        self._unreported = 0

    def accept(self, token: int) -> bool:
        """Take the token chosen for this row and stream what it completes; True when the answer ended."""
        self.generated += 1
        self._unreported += 1
        if self.constraint is not None:
            self.constraint.advance(token)
        if token in self.stop_ids:
            return self._emit(self.text.flush(), "stop")
        released = self.text.push(token)
        if self.text.stopped or (self.constraint is not None and self.constraint.is_complete()):
            return self._emit(released + self.text.flush(), "stop")
        if self.generated >= self.max_tokens:
            return self._emit(released + self.text.flush(), "length")
        if released:
            self._emit(released, None)
        return False

    def _emit(self, text: str, finish_reason: FinishReason | None) -> bool:
        self.events.put(Chunk(text=text, tokens=self._unreported, finish_reason=finish_reason))
        self._unreported = 0
        return finish_reason is not None


class LabelWork(Work):
    """A classification request: the label answers to score after its prompt."""

    def __init__(
        self,
        adapter: str,
        prompt_ids: list[int],
        deadline: float | None,
        *,
        sequences: dict[str, list[int]],
        temperature: float,
    ):
        super().__init__(adapter, prompt_ids, deadline)
        self.sequences = sequences
        self.temperature = temperature
