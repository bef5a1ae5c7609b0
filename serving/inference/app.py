"""The inference process's HTTP API (Starlette on uvicorn): OpenAI-compatible, task-native, health, metrics.

    POST /v1/chat/completions            OpenAI chat (``stream: true`` as server-sent events)
    POST /v1/completions                 OpenAI text completion
    GET  /v1/models                      the endpoints this key may call
    POST /api/v1/endpoints/{slug}/predict  task-native: output, label, json, confidence, route, ...
    GET  /healthz, /readyz, /metrics     liveness, readiness (models loaded, not draining), Prometheus
    GET  /openapi.json                   this API's OpenAPI document (serving/inference/openapi.py)

Every model call runs in a worker thread (the engines are synchronous and batch across threads); a
stream is pulled piece by piece from a worker thread, so streaming never blocks the event loop. The
order of checks: key (401), body (400/413), endpoint (404), rate (429), capacity (503), then the engine.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from serving.engine.errors import ServingError
from serving.inference import errors
from serving.inference.config import InferenceConfig
from serving.inference.control import ControlPlane, KeyGrant
from serving.inference.deployments import Deployments
from serving.inference.errors import ApiError
from serving.inference.limits import FailedKeyThrottle, InFlight, KeyCache, RateLimiter, Slot
from serving.inference.logwriter import LogWriter
from serving.inference.metrics import Metrics
from serving.inference.pipeline import Answer, AnswerStream, Call, Pipeline
from studio import jsonbounds

log = logging.getLogger(__name__)
_END = object()
MAX_MESSAGES = 256
MAX_STOP = 4

# -- request bodies ------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields this server does not use

    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    n: Literal[1] | None = None
    stream: bool = False
    stream_options: dict | None = None

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value):
        stops = [value] if isinstance(value, str) else value or []
        if any(not stop for stop in stops):
            raise ValueError("stop strings must not be empty")
        return value

    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[dict]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError("only text content parts are supported")
            parts.append(part["text"])
        return "".join(parts)


class ChatBody(_Body):
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)

    def chat(self) -> list[dict]:
        return [{"role": message.role, "content": message.text()} for message in self.messages]


class CompletionBody(_Body):
    model: str = Field(min_length=1, max_length=200)
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class PredictBody(_Body):
    """Either ``input`` (the example's input, as in the dataset) or chat ``messages``."""

    input: str | None = None
    messages: list[ChatMessage] | None = Field(default=None, min_length=1, max_length=MAX_MESSAGES)


# -- the app -------------------------------------------------------------------------------------


@dataclass
class Inference:
    """Everything one inference process holds (``app.state.inference``)."""

    config: InferenceConfig
    engine: object
    control: ControlPlane
    deployments: Deployments
    keys: KeyCache
    failed_keys: FailedKeyThrottle
    rates: RateLimiter
    in_flight: InFlight
    logs: LogWriter
    metrics: Metrics
    pipeline: Pipeline
    draining: bool = False


def build_inference(engine, control: ControlPlane, config: InferenceConfig) -> Inference:
    in_flight = InFlight(config.in_flight_limit)
    metrics = Metrics(engine, in_flight)
    deployments = Deployments(engine, control, poll_seconds=config.state_poll_seconds)
    logs = LogWriter(control, size=config.log_queue_size, on_drop=metrics.logs_dropped.inc)
    pipeline = Pipeline(
        engine,
        deployments,
        logs,
        metrics,
        default_max_tokens=config.limits.default_max_tokens,
        shadow_queue_size=config.shadow_queue_size,
    )
    return Inference(
        config=config,
        engine=engine,
        control=control,
        deployments=deployments,
        keys=KeyCache(control, ttl=config.key_cache_seconds, size=config.key_cache_size),
        failed_keys=FailedKeyThrottle(limit=config.failed_key_limit, window=config.failed_key_window_seconds),
        rates=RateLimiter(),
        in_flight=in_flight,
        logs=logs,
        metrics=metrics,
        pipeline=pipeline,
    )


def build_app(engine, control: ControlPlane, config: InferenceConfig | None = None) -> Starlette:
    inference = build_inference(engine, control, config or InferenceConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Threads enough for every admitted request plus the key checks, so none waits for a thread.
        anyio.to_thread.current_default_thread_limiter().total_tokens = inference.in_flight.limit + 16
        inference.logs.start()
        inference.deployments.start()
        yield
        # uvicorn has finished (or given up on) the in-flight requests by now.
        inference.draining = True
        timeout = inference.config.shutdown_timeout_seconds
        await anyio.to_thread.run_sync(lambda: _shut_down(inference, timeout))

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/api/v1/endpoints/{slug}/predict", predict, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={
            ApiError: _api_error,
            ServingError: _serving_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.inference = inference
    app.add_middleware(OpenRequests, limit=inference.config.open_requests_limit, inference=inference)
    return app


class OpenRequests:
    """Caps the HTTP requests open at once, before any body is read: memory stays bounded whatever the
    number of clients (health, readiness and metrics are always answered)."""

    EXEMPT = ("/healthz", "/readyz", "/metrics", "/openapi.json")

    def __init__(self, app, *, limit: int, inference: Inference):
        self.app = app
        self.limit = limit
        self.inference = inference
        self.open = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            return await self.app(scope, receive, send)
        if self.open >= self.limit:  # the event loop is single-threaded: no lock needed
            self.inference.metrics.refused.labels("too_many_open_requests").inc()
            retry = self.inference.config.limits.retry_after_seconds
            error = ApiError(
                503, "overloaded", "The server is at capacity; retry shortly.", retry_after=retry
            )
            return await errors.response(error)(scope, receive, send)
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1


def _shut_down(inference: Inference, timeout: float) -> None:
    inference.deployments.stop(timeout)
    inference.pipeline.close()
    inference.engine.close(timeout=timeout)
    inference.logs.close(timeout)
    log.info("inference process stopped: engine drained, %d request logs written", inference.logs.written)


# -- error handlers --------------------------------------------------------------------------------


async def _api_error(request: Request, error: ApiError) -> Response:
    return errors.response(error)


async def _serving_error(request: Request, error: ServingError) -> Response:
    return errors.response(errors.from_serving_error(error))


async def _http_error(request: Request, error: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return errors.response(ApiError(error.status_code, code, str(error.detail)))


async def _unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("unexpected error answering %s", request.url.path, exc_info=error)
    return errors.response(
        ApiError(500, "internal_error", "The inference server failed; it has been logged.")
    )


# -- shared steps --------------------------------------------------------------------------------


def _inference(request: Request) -> Inference:
    return request.app.state.inference


async def _grant(request: Request) -> KeyGrant:
    inference = _inference(request)
    address = request.client.host if request.client else ""
    wait = inference.failed_keys.wait(address)
    if wait is not None:  # checked before the key, so a right guess answers like a wrong one
        inference.metrics.refused.labels("too_many_failed_keys").inc()
        raise ApiError(
            429,
            "too_many_failed_keys",
            "Too many invalid API keys from this address; retry later.",
            retry_after=wait,
        )
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    grant = None
    if scheme.lower() == "bearer" and secret:
        grant = await run_in_threadpool(inference.keys.grant, secret)
    if grant is None:
        inference.failed_keys.failed(address)
        inference.metrics.refused.labels("invalid_api_key").inc()
        raise ApiError(
            401, "invalid_api_key", "A valid endpoint API key is required (Authorization: Bearer <key>)."
        )
    return grant


async def _body(request: Request, model: type[BaseModel]):
    limit = _inference(request).config.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "request_too_large", f"The request body is over {limit} bytes.")
    raw = bytearray()
    async for piece in request.stream():
        raw += piece
        if len(raw) > limit:
            raise ApiError(413, "request_too_large", f"The request body is over {limit} bytes.")
    try:
        data = jsonbounds.loads(bytes(raw))
    except jsonbounds.JSONRefused as error:
        raise ApiError(400, "invalid_json", error.message, param=error.path or None) from error
    except ValueError as error:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON ({error}).") from error
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request_error", "The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(
            400,
            "invalid_request_error",
            f"{param}: {first['msg']}" if param else first["msg"],
            param=param,
            details={
                "errors": [
                    {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in error.errors()[:20]
                ]
            },
        ) from error


def _admit(inference: Inference, call: Call) -> Slot:
    """The endpoint (404), the key's rate (429) and the process's capacity (503), in that order."""
    state = inference.pipeline.endpoint(call.grant, call.slug)
    wait = inference.rates.take(call.grant)
    if wait is not None:
        inference.pipeline.fail(call, state, 429, "rate_limit_exceeded")
        raise ApiError(
            429,
            "rate_limit_exceeded",
            f"This key may send {call.grant.rate_limit_per_minute} requests a minute; retry in {wait} s.",
            retry_after=wait,
        )
    if not inference.in_flight.try_enter():
        inference.pipeline.fail(call, state, 503, "overloaded")
        retry = inference.config.limits.retry_after_seconds
        raise ApiError(503, "overloaded", "The server is at capacity; retry shortly.", retry_after=retry)
    return Slot(inference.in_flight)


async def _answer(inference: Inference, call: Call) -> Answer:
    slot = _admit(inference, call)
    try:
        return await run_in_threadpool(inference.pipeline.answer, call)
    finally:
        slot.release()


async def _stream(inference: Inference, call: Call, render, include_usage: bool) -> StreamingResponse:
    slot = _admit(inference, call)
    try:
        stream = await run_in_threadpool(inference.pipeline.stream, call)
    except BaseException:
        slot.release()
        raise
    return StreamingResponse(
        _events(stream, slot, render, include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(stream: AnswerStream, slot: Slot, render, include_usage: bool) -> AsyncIterator[str]:
    pieces = iter(stream)
    try:
        yield _sse(render.first())
        while (piece := await anyio.to_thread.run_sync(next, pieces, _END)) is not _END:
            yield _sse(render.piece(piece))
        yield _sse(render.last(stream.answer))
        if include_usage:
            yield _sse(render.usage(stream.answer))
    except ServingError as error:
        yield _sse(errors.body(errors.from_serving_error(error)))
    finally:
        stream.close()
        slot.release()
    yield "data: [DONE]\n\n"


def _sse(data: dict) -> str:
    import json

    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


def _usage(answer: Answer) -> dict:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _options(body: _Body, max_tokens: int | None) -> dict:
    return {
        "max_tokens": max_tokens,
        "temperature": body.temperature if body.temperature is not None else 0.0,
        "top_p": body.top_p if body.top_p is not None else 1.0,
        "stop": body.stops(),
        "seed": body.seed,
    }


# -- OpenAI-compatible ---------------------------------------------------------------------------


class _ChatRender:
    def __init__(self, slug: str):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.slug = slug

    def _chunk(self, choices: list, **extra) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.slug,
            "choices": choices,
            **extra,
        }

    def first(self) -> dict:
        return self._chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )

    def piece(self, text: str) -> dict:
        return self._chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])

    def last(self, answer: Answer) -> dict:
        choice = {"index": 0, "delta": {}, "finish_reason": answer.finish_reason}
        return self._chunk([choice], routing=answer.routing())

    def usage(self, answer: Answer) -> dict:
        return self._chunk([], usage=_usage(answer))


async def chat_completions(request: Request) -> Response:
    inference = _inference(request)
    grant = await _grant(request)
    body = await _body(request, ChatBody)
    try:
        messages = body.chat()
    except ValueError as error:
        raise ApiError(400, "invalid_request_error", str(error), param="messages") from error
    call = Call(
        grant, body.model, messages=messages, **_options(body, body.max_completion_tokens or body.max_tokens)
    )
    if body.stream:
        return await _stream(inference, call, _ChatRender(body.model), body.include_usage)
    answer = await _answer(inference, call)
    render = _ChatRender(body.model)
    return JSONResponse(
        {
            "id": render.id,
            "object": "chat.completion",
            "created": render.created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": answer.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(answer),
            "routing": answer.routing(),
        }
    )


class _CompletionRender(_ChatRender):
    def _chunk(self, choices: list, **extra) -> dict:
        return {
            "id": self.id.replace("chatcmpl", "cmpl"),
            "object": "text_completion",
            "created": self.created,
            "model": self.slug,
            "choices": choices,
            **extra,
        }

    def first(self) -> dict:
        return self._chunk([{"index": 0, "text": "", "finish_reason": None, "logprobs": None}])

    def piece(self, text: str) -> dict:
        return self._chunk([{"index": 0, "text": text, "finish_reason": None, "logprobs": None}])

    def last(self, answer: Answer) -> dict:
        choice = {"index": 0, "text": "", "finish_reason": answer.finish_reason, "logprobs": None}
        return self._chunk([choice], routing=answer.routing())


async def completions(request: Request) -> Response:
    inference = _inference(request)
    grant = await _grant(request)
    body = await _body(request, CompletionBody)
    call = Call(grant, body.model, prompt=body.text(), **_options(body, body.max_tokens))
    render = _CompletionRender(body.model)
    if body.stream:
        return await _stream(inference, call, render, body.include_usage)
    answer = await _answer(inference, call)
    return JSONResponse(
        render._chunk(
            [{"index": 0, "text": answer.text, "finish_reason": answer.finish_reason, "logprobs": None}],
            usage=_usage(answer),
            routing=answer.routing(),
        )
    )


async def models(request: Request) -> Response:
    inference = _inference(request)
    grant = await _grant(request)
    inference.deployments.raise_unless_started()  # an empty list would say the key may call nothing
    table = inference.deployments.table()
    data = [
        {"id": slug, "object": "model", "created": table[slug].created, "owned_by": table[slug].team}
        for slug in sorted(grant.endpoints)
        if slug in table
    ]
    return JSONResponse({"object": "list", "data": data})


# -- task-native ---------------------------------------------------------------------------------


async def predict(request: Request) -> Response:
    inference = _inference(request)
    grant = await _grant(request)
    slug = request.path_params["slug"]
    body = await _body(request, PredictBody)
    if (body.input is None) == (body.messages is None):
        raise ApiError(400, "invalid_request_error", "Give either input or messages.", param="input")
    try:
        messages = [{"role": m.role, "content": m.text()} for m in body.messages] if body.messages else None
    except ValueError as error:
        raise ApiError(400, "invalid_request_error", str(error), param="messages") from error
    call = Call(grant, slug, messages=messages, prompt=body.input, **_options(body, body.max_tokens))
    if call.prompt is not None and inference.pipeline.endpoint(grant, slug).task_type != "classification":
        # a generation endpoint's input is the user's turn, rendered with the version's instructions
        call = Call(grant, slug, messages=call.chat, **_options(body, body.max_tokens))
    answer = await _answer(inference, call)
    if answer.error_code in ("output_not_json", "output_schema_mismatch"):
        raise ApiError(
            422,
            answer.error_code,
            "The model's answer is not JSON that satisfies the project's output schema.",
            details={"output": answer.text, "route": answer.route, "model_version": answer.version.number},
        )
    result = {"output": answer.text, **answer.routing(), "latency_ms": round(call.elapsed_ms(), 1)}
    if answer.label is not None:
        result["label"] = answer.label
    if answer.json is not None:
        result["json"] = answer.json
    return JSONResponse(result)


# -- operations ----------------------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    inference = _inference(request)
    health = await run_in_threadpool(inference.engine.health)
    ready = inference.deployments.synced.is_set() and health.ready and not inference.draining
    body = {
        "status": "ready" if ready else "not_ready",
        "backend": health.backend,
        # a count: readiness answers without a key, so it names no team's endpoint
        "endpoints": len(inference.deployments.table()),
        "queued": health.queued,
        "active": health.active,
        "in_flight": inference.in_flight.count,
        "draining": inference.draining,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    registry = _inference(request).metrics.registry
    return Response(await run_in_threadpool(generate_latest, registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    from serving.inference.openapi import openapi_document

    return JSONResponse(openapi_document())
