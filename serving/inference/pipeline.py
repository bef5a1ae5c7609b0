"""Answering one request, the same for every API: the version (production or canary), the engine call,
routing by confidence (escalate, or forward to the fallback model), the shadow's answer and the log.

Everything here is synchronous and runs in the ASGI server's worker threads.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from serving.engine.errors import InvalidRequest, ServingError, UnknownAdapter
from serving.engine.protocol import ClassifyRequest, GenerateRequest, TokenStream, collect, deadline_in
from serving.inference.control import EndpointState, KeyGrant, LogEntry, VersionRef
from serving.inference.deployments import Deployments
from serving.inference.errors import ApiError
from serving.inference.fallback import FallbackFailed, forward_chat
from serving.inference.logwriter import LogWriter
from serving.inference.metrics import Metrics

log = logging.getLogger(__name__)

ANSWER, ESCALATE, FALLBACK, SHADOW = "answer", "escalate", "fallback", "shadow"


@dataclass(frozen=True)
class Call:
    """What a caller asked, whichever API it came through: chat ``messages`` or a ``prompt`` text."""

    grant: KeyGrant
    slug: str
    messages: list[dict] | None = None
    prompt: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def chat(self) -> list[dict]:
        return self.messages if self.messages is not None else [{"role": "user", "content": self.prompt}]

    @property
    def input_text(self) -> str:
        """The caller's input as a reviewer reads it: the prompt, or the last user turn."""
        if self.prompt is not None:
            return self.prompt
        users = [message["content"] for message in self.messages or () if message.get("role") == "user"]
        return users[-1] if users else ""

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@dataclass
class Answer:
    text: str
    version: VersionRef
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    label: str | None = None
    confidence: float | None = None
    route: str = ANSWER
    json: object = None
    error_code: str = ""

    def routing(self) -> dict:
        """The extra response field OpenAI clients ignore: how this answer was routed."""
        return {"route": self.route, "confidence": self.confidence, "model_version": self.version.number}


class Pipeline:
    def __init__(
        self,
        engine,
        deployments: Deployments,
        logs: LogWriter,
        metrics: Metrics,
        *,
        default_max_tokens: int,
        shadow_queue_size: int = 16,
    ):
        self.engine = engine
        self.deployments = deployments
        self.logs = logs
        self.metrics = metrics
        self.default_max_tokens = default_max_tokens
        self._shadow_slots = threading.BoundedSemaphore(max(1, shadow_queue_size))
        self._shadow_enabled = shadow_queue_size > 0
        self._shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")

    # -- lookups ---------------------------------------------------------------------------------
    def endpoint(self, grant: KeyGrant, slug: str) -> EndpointState:
        """The endpoint this key may call; another's (or a missing, paused one) is a 404, as for OpenAI.
        Until the process has loaded the endpoints' versions once, one of the key's is a 503 instead: it
        exists, and a client that retries (the ``openai`` client does) is answered in a moment."""
        state = self.deployments.get(slug) if slug in grant.endpoints else None
        if state is None and slug in grant.endpoints:
            self.deployments.raise_unless_started()
        if state is None:
            raise ApiError(
                404,
                "model_not_found",
                f"The model {slug!r} does not exist or this key may not call it.",
                param="model",
            )
        return state

    # -- non-streaming ---------------------------------------------------------------------------
    def answer(self, call: Call) -> Answer:
        state, answer = self._attempt(call, self._complete)
        answer = self._route(state, call, answer)
        self._finish(call, state, answer)
        return answer

    def _complete(self, state: EndpointState, version: VersionRef, call: Call) -> Answer:
        if state.task_type == "classification":
            result = self.engine.classify(
                ClassifyRequest(
                    version.name,
                    text=call.prompt,
                    messages=call.messages,
                    deadline=deadline_in(state.request_timeout_s),
                    max_input_tokens=state.max_input_tokens,
                )
            )
            return Answer(
                text=result.label,
                version=version,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                label=result.label,
                confidence=result.confidence,
            )
        completion = collect(self.engine.generate(self._generate_request(state, version, call)))
        answer = Answer(
            text=completion.text,
            version=version,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
            finish_reason=completion.finish_reason,
        )
        return _with_json(state, answer)

    def _generate_request(self, state: EndpointState, version: VersionRef, call: Call) -> GenerateRequest:
        cap = state.max_tokens_cap
        if call.max_tokens is not None and call.max_tokens > cap:
            raise InvalidRequest(
                f"max_tokens is {call.max_tokens}; this endpoint allows at most {cap}",
                details={"field": "max_tokens", "limit": cap},
            )
        constraint = None
        if state.task_type == "extraction" and state.output_schema:
            constraint = self.engine.json_constraint(version.name, state.output_schema)
        return GenerateRequest(
            version.name,
            constraint=constraint,
            messages=call.messages,
            prompt=call.prompt,
            max_tokens=call.max_tokens or min(cap, self.default_max_tokens),
            stop=call.stop,
            temperature=call.temperature,
            top_p=call.top_p,
            seed=call.seed,
            deadline=deadline_in(state.request_timeout_s),
            max_input_tokens=state.max_input_tokens,
        )

    def _attempt(self, call: Call, run):
        """Run on the version the table names now; if a switch unloaded it in between, once more on the
        new table (a promotion or rollback never fails a request). Refusals are logged and raised."""
        state = self.endpoint(call.grant, call.slug)
        version = _pick_version(state)
        try:
            try:
                return state, run(state, version, call)
            except UnknownAdapter:
                fresh = self.deployments.get(call.slug)
                if fresh is None or version in fresh.versions():
                    raise
                state, version = fresh, _pick_version(fresh)
                return state, run(state, version, call)
        except ServingError as error:
            self.fail(call, state, error.http_status, error.code, version)
            raise

    def _route(self, state: EndpointState, call: Call, answer: Answer) -> Answer:
        threshold = state.routing_threshold
        if answer.confidence is None or threshold is None or answer.confidence >= threshold:
            return answer
        if state.fallback != "forward" or not state.fallback_url:
            return replace(answer, route=ESCALATE)
        try:
            text = forward_chat(
                state.fallback_url,
                model=state.slug,
                messages=call.chat,
                max_tokens=call.max_tokens,
                timeout=state.fallback_timeout_s,
            )
        except FallbackFailed as error:
            log.warning("fallback of %s failed: %s", state.slug, error)
            return replace(answer, route=ESCALATE, error_code="fallback_failed")
        label = text.strip() if state.task_type == "classification" else None
        return replace(answer, text=text, label=label, route=FALLBACK, confidence=answer.confidence)

    # -- streaming -------------------------------------------------------------------------------
    def stream(self, call: Call) -> AnswerStream:
        """Admit a streamed answer (admission errors are raised here, before any byte is sent)."""
        state = self.endpoint(call.grant, call.slug)
        if state.task_type == "classification":  # one decision: computed whole, sent as one piece
            return AnswerStream.whole(self.answer(call))
        holder: dict = {}

        def open_stream(state, version, call):
            holder["version"] = version
            return self.engine.generate(self._generate_request(state, version, call))

        state, stream = self._attempt(call, open_stream)
        return AnswerStream(self, call, state, holder["version"], stream)

    # -- logs and shadow -------------------------------------------------------------------------
    def _finish(self, call: Call, state: EndpointState, answer: Answer) -> None:
        entry = self._entry(call, state, answer.version, 200, answer.route)
        entry.confidence = answer.confidence
        entry.input_tokens, entry.output_tokens = answer.prompt_tokens, answer.completion_tokens
        entry.output_text = answer.text if state.log_policy != "none" else ""
        entry.error_code = answer.error_code
        self.logs.put(entry)
        self._observe(state.slug, answer.route, 200, call, answer.prompt_tokens, answer.completion_tokens)
        if state.shadow is not None and answer.version.id != state.shadow.id:
            self._run_shadow(call, state, entry)

    def fail(self, call: Call, state: EndpointState, status: int, code: str, version=None) -> None:
        entry = self._entry(call, state, version, status, ANSWER)
        entry.error_code = code
        self.logs.put(entry)
        self._observe(state.slug, ANSWER, status, call, 0, 0)

    def _entry(self, call, state, version, status, route) -> LogEntry:
        return LogEntry(
            endpoint_id=state.id,
            key_id=call.grant.id,
            version_id=version.id if version else None,
            latency_ms=round(call.elapsed_ms(), 3),
            status_code=status,
            route=route,
            input_text=call.input_text if state.log_policy != "none" else "",
        )

    def _observe(self, slug, route, status, call, prompt_tokens, completion_tokens) -> None:
        self.metrics.requests.labels(slug, route, str(status)).inc()
        self.metrics.latency.labels(slug).observe(call.elapsed_ms() / 1000)
        if prompt_tokens:
            self.metrics.tokens.labels(slug, "input").inc(prompt_tokens)
        if completion_tokens:
            self.metrics.tokens.labels(slug, "output").inc(completion_tokens)

    def _run_shadow(self, call: Call, state: EndpointState, parent: LogEntry) -> None:
        """The shadow version answers the same input after production did; logged, never returned."""
        if not self._shadow_enabled or not self._shadow_slots.acquire(blocking=False):
            self.metrics.shadows_skipped.inc()
            return
        shadow_call = replace(call, started=time.perf_counter())

        def run() -> None:
            try:
                answer = self._complete(state, state.shadow, shadow_call)
                entry = self._entry(shadow_call, state, state.shadow, 200, SHADOW)
                entry.confidence = answer.confidence
                entry.input_tokens, entry.output_tokens = answer.prompt_tokens, answer.completion_tokens
                entry.output_text = answer.text if state.log_policy != "none" else ""
            except ServingError as error:
                entry = self._entry(shadow_call, state, state.shadow, error.http_status, SHADOW)
                entry.error_code = error.code
            finally:
                self._shadow_slots.release()
            entry.shadow_of = parent
            self.logs.put(entry)

        self._shadow_pool.submit(run)

    def close(self) -> None:
        self._shadow_pool.shutdown(wait=True, cancel_futures=True)


class AnswerStream:
    """A streamed answer: iterate for text pieces; ``answer`` is complete once iteration ended.

    The log row is written when the stream ends, however it ends (finished, timed out, or the client
    went away: then the request's row in the batch is freed too).
    """

    def __init__(
        self, pipeline, call, state, version, stream: TokenStream | None, answer: Answer | None = None
    ):
        self.pipeline = pipeline
        self.call = call
        self.state = state
        self.version = version
        self._stream = stream
        self.answer = answer
        self._done = answer is not None

    @classmethod
    def whole(cls, answer: Answer) -> AnswerStream:
        return cls(None, None, None, answer.version, None, answer)

    def __iter__(self) -> Iterator[str]:
        if self._stream is None:
            if self.answer.text:
                yield self.answer.text
            return
        pieces: list[str] = []
        try:
            for chunk in self._stream:
                if chunk.text:
                    pieces.append(chunk.text)
                    yield chunk.text
        except ServingError as error:
            self._done = True
            self.pipeline.fail(self.call, self.state, error.http_status, error.code, self.version)
            raise
        self._done = True
        usage = self._stream.usage
        self.answer = _with_json(
            self.state,
            Answer(
                text="".join(pieces),
                version=self.version,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                finish_reason=self._stream.finish_reason or "stop",
            ),
        )
        self.pipeline._finish(self.call, self.state, self.answer)

    def close(self) -> None:
        """The client went away (or the answer was sent): free the batch row; log an unfinished stream."""
        if self._stream is None:
            return
        self._stream.cancel()
        if not self._done:
            self._done = True
            self.pipeline.fail(self.call, self.state, 499, "client_closed_request", self.version)


def _pick_version(state: EndpointState) -> VersionRef:
    if state.canary is not None and random.random() * 100 < state.canary_percent:
        return state.canary
    return state.production


def _with_json(state: EndpointState, answer: Answer) -> Answer:
    """Extraction answers carry their JSON, or the reason there is none (``error_code``)."""
    if state.task_type != "extraction":
        return answer
    try:
        value = json.loads(answer.text)
    except ValueError:
        return replace(answer, error_code="output_not_json")
    if state.output_schema:
        import jsonschema

        try:
            jsonschema.validate(value, state.output_schema)
        except jsonschema.ValidationError:
            return replace(answer, json=value, error_code="output_schema_mismatch")
        except jsonschema.SchemaError:
            pass
    return replace(answer, json=value)
