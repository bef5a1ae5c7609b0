"""The one interface every serving backend implements, and the plain data it speaks.

Nothing here imports torch: the inference process's HTTP layer builds requests and reads results with
these types whichever backend (``embedded`` or ``vllm``) answers them. Engines are synchronous and
thread-safe: call them from a thread pool (an ASGI server iterates a stream in its worker threads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from serving.engine.errors import InvalidRequest

if TYPE_CHECKING:
    import torch

ROLES = ("system", "user", "assistant")
FinishReason = Literal["stop", "length"]


@runtime_checkable
class Constraint(Protocol):
    """Restricts decoding token by token (the JSON-schema constraint of extraction endpoints is one).

    Called from the engine's scheduler thread only: ``allowed_token_mask`` before each token (``None``
    allows every token), ``advance`` with the token chosen; the answer ends once ``is_complete()``. A
    constraint that also has a ``json_schema`` attribute (a dict) can be enforced by remote backends.
    """

    def allowed_token_mask(self, vocab_size: int) -> torch.BoolTensor | None: ...

    def advance(self, token_id: int) -> None: ...

    def is_complete(self) -> bool: ...


def deadline_in(seconds: float) -> float:
    """A deadline ``seconds`` from now, on the clock requests use (``time.monotonic``)."""
    return time.monotonic() + seconds


def _check_messages(messages: list[dict]) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", details={"field": "messages"})
    for index, message in enumerate(messages):
        where = {"field": f"messages[{index}]"}
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{index}] must be an object with role and content", details=where)
        if message.get("role") not in ROLES:
            raise InvalidRequest(
                f"messages[{index}].role must be one of {', '.join(ROLES)}",
                details={"field": f"messages[{index}].role"},
            )
        if not isinstance(message.get("content"), str):
            raise InvalidRequest(
                f"messages[{index}].content must be a string", details={"field": f"messages[{index}].content"}
            )


def _check_input(messages: list[dict] | None, other: str | None, other_name: str) -> None:
    if (messages is None) == (other is None):
        raise InvalidRequest(f"give either messages or {other_name}, not both or neither")
    if messages is not None:
        _check_messages(messages)
    elif not isinstance(other, str):
        raise InvalidRequest(f"{other_name} must be a string", details={"field": other_name})


@dataclass(frozen=True)
class GenerateRequest:
    """Free text from one adapter: chat ``messages`` (rendered with the chat template) or a raw ``prompt``.

    ``max_tokens`` None means the engine's default; ``temperature`` 0 is greedy (deterministic);
    ``deadline`` is a ``time.monotonic()`` value (see ``deadline_in``); ``max_input_tokens`` lowers the
    engine's input limit for this request (an endpoint's own limit).
    """

    adapter: str
    messages: list[dict] | None = None
    prompt: str | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    constraint: Constraint | None = None
    deadline: float | None = None
    max_input_tokens: int | None = None

    def __post_init__(self):
        _check_input(self.messages, self.prompt, "prompt")
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            raise InvalidRequest("max_tokens must be a positive integer", details={"field": "max_tokens"})
        if isinstance(self.stop, str) or any(not isinstance(s, str) or not s for s in self.stop):
            raise InvalidRequest("stop must be a list of non-empty strings", details={"field": "stop"})
        if not 0 <= self.temperature <= 2:
            raise InvalidRequest("temperature must be between 0 and 2", details={"field": "temperature"})
        if not 0 < self.top_p <= 1:
            raise InvalidRequest("top_p must be in (0, 1]", details={"field": "top_p"})


@dataclass(frozen=True)
class ClassifyRequest:
    """One input to a classification adapter: its ``text`` (the example input) or chat ``messages``.

    ``labels`` None means the adapter's own label set (from its training config). ``temperature`` is
    the calibration temperature evaluation fitted for the version: probabilities are the softmax of the
    labels' summed log-probabilities divided by it.
    """

    adapter: str
    text: str | None = None
    messages: list[dict] | None = None
    labels: tuple[str, ...] | None = None
    temperature: float = 1.0
    deadline: float | None = None
    max_input_tokens: int | None = None

    def __post_init__(self):
        _check_input(self.messages, self.text, "text")
        if self.labels is not None and (
            isinstance(self.labels, str) or not self.labels or any(not label for label in self.labels)
        ):
            raise InvalidRequest("labels must be a non-empty list of labels", details={"field": "labels"})
        if not self.temperature > 0:
            raise InvalidRequest("temperature must be positive", details={"field": "temperature"})

    def chat(self) -> list[dict]:
        """The conversation to score: the given messages, or the text as the user's turn."""
        return self.messages if self.messages is not None else [{"role": "user", "content": self.text}]


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed text; the last chunk of a stream carries the finish reason."""

    text: str
    tokens: int
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: FinishReason
    usage: Usage


@dataclass(frozen=True)
class Classification:
    """Always one of the labels; ``confidence`` is its probability among the labels."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    prompt_tokens: int
    completion_tokens: int  # the chosen label's answer tokens: what a client is sent


@dataclass(frozen=True)
class AdapterInfo:
    """What a loaded name serves: its task, labels and instructions (from the version's training config)."""

    name: str
    kind: Literal["lora", "full", "base"]
    task_type: str | None
    labels: tuple[str, ...] | None
    instructions: str
    base_model: str
    path: Path | None


@dataclass(frozen=True)
class Health:
    """``ready``: the engine takes requests now. ``details`` holds backend facts (device, batch stats)."""

    ready: bool
    backend: str
    adapters: tuple[str, ...]
    queued: int
    active: int
    details: dict = field(default_factory=dict)


class TokenStream:
    """The streamed answer to a ``GenerateRequest``: iterate it for ``Chunk``s.

    Iteration raises ``Timeout`` (after the chunks produced in time) or another ``ServingError``. Leaving
    early (``cancel()``, ``close()`` or the ``with`` block) frees the request's place in the batch.
    """

    def __init__(self, chunks: Iterator[Chunk], *, prompt_tokens: int, cancel: Callable[[], None]):
        self._chunks = chunks
        self._cancel = cancel
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.finish_reason: FinishReason | None = None

    def __iter__(self) -> Iterator[Chunk]:
        for chunk in self._chunks:
            self.completion_tokens += chunk.tokens
            if chunk.finish_reason is not None:
                self.finish_reason = chunk.finish_reason
            yield chunk

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)

    def cancel(self) -> None:
        self._cancel()

    close = cancel

    def __del__(self) -> None:  # a stream dropped unread still gives its place back
        self.cancel()

    def __enter__(self) -> TokenStream:
        return self

    def __exit__(self, *exc_info) -> None:
        self.cancel()


def collect(stream: TokenStream) -> Completion:
    """The whole answer of a stream (what a non-streaming request returns)."""
    with stream:
        text = "".join(chunk.text for chunk in stream)
    return Completion(text=text, finish_reason=stream.finish_reason or "stop", usage=stream.usage)


class Engine(Protocol):
    """A serving backend: adapters loaded under names, batched generation and classification."""

    backend: str

    def load(self, name: str, artifacts_dir: Path, *, base_model: Path | None = None) -> AdapterInfo:
        """Serve a model version's artifacts folder (LoRA adapter or full model + training_config.json)."""
        ...

    def load_base(self, name: str, base_model: Path, *, training_config: dict | None = None) -> AdapterInfo:
        """Serve a base model without adapter (a baseline version) under ``name``."""
        ...

    def unload(self, name: str, *, timeout: float | None = None) -> None:
        """Stop serving ``name``: new requests are refused at once, in-flight ones finish first."""
        ...

    def adapters(self) -> list[AdapterInfo]: ...

    def generate(self, request: GenerateRequest) -> TokenStream:
        """Admit the request (or raise at once: Overloaded, ContextLengthExceeded, UnknownAdapter, ...)."""
        ...

    def classify(self, request: ClassifyRequest) -> Classification: ...

    def json_constraint(self, name: str, schema: dict) -> Constraint:
        """A fresh constraint holding one answer of ``name`` to the JSON ``schema`` (for an extraction
        endpoint's ``GenerateRequest``); raises InvalidRequest when the schema cannot be enforced."""
        ...

    def health(self) -> Health: ...

    def close(self, *, timeout: float | None = None) -> None:
        """Refuse new requests, finish every admitted one, then release the backend."""
        ...
