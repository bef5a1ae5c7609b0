"""The OpenAPI document of the inference process's HTTP API (served at ``/openapi.json``).

The request bodies are the pydantic models the handlers validate with, so the document cannot drift from
what the server accepts; the answers are written out here in the shapes the handlers build.
"""

from __future__ import annotations

from functools import cache

from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


ERROR = {
    "type": "object",
    "description": "OpenAI's error shape, with the studio's code and details.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {
        "prompt_tokens": {"type": "integer", "minimum": 0},
        "completion_tokens": {"type": "integer", "minimum": 0},
        "total_tokens": {"type": "integer", "minimum": 0},
    },
}
ROUTING = {
    "type": "object",
    "description": "How the answer was routed (a field OpenAI clients ignore).",
    "required": ["route", "confidence", "model_version"],
    "properties": {
        "route": {"type": "string", "enum": ["answer", "escalate", "fallback"]},
        "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "model_version": {"type": "integer"},
    },
}
FINISH = {"type": ["string", "null"], "enum": ["stop", "length", None]}


def _completion(obj: str, choice: dict) -> dict:
    return {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage", "routing"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": obj},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array", "minItems": 1, "maxItems": 1, "items": choice},
            "usage": _ref("Usage"),
            "routing": _ref("Routing"),
        },
    }


CHAT_COMPLETION = _completion(
    "chat.completion",
    {
        "type": "object",
        "required": ["index", "message", "finish_reason"],
        "properties": {
            "index": {"const": 0},
            "message": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}},
            },
            "finish_reason": FINISH,
        },
    },
)
TEXT_COMPLETION = _completion(
    "text_completion",
    {
        "type": "object",
        "required": ["index", "text", "finish_reason"],
        "properties": {"index": {"const": 0}, "text": {"type": "string"}, "finish_reason": FINISH},
    },
)
MODEL_LIST = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "object", "created", "owned_by"],
                "properties": {
                    "id": {"type": "string"},
                    "object": {"const": "model"},
                    "created": {"type": "integer"},
                    "owned_by": {"type": "string"},
                },
            },
        },
    },
}
PREDICTION = {
    "type": "object",
    "required": ["output", "route", "confidence", "model_version", "latency_ms"],
    "properties": {
        "output": {"type": "string"},
        "label": {"type": "string", "description": "Classification endpoints: one of the project's labels."},
        "json": {"description": "Extraction endpoints: the answer, held to the project's output schema."},
        **ROUTING["properties"],
        "latency_ms": {"type": "number", "minimum": 0},
    },
}
# Each server-sent event: a JSON chunk (or an error in OpenAI's shape) in `data`, the last one `[DONE]`.
EVENTS = {
    "text/event-stream": {
        "schema": {"type": "object", "required": ["data"], "properties": {"data": {"type": "string"}}}
    }
}


def _errors(*statuses: int) -> dict:
    reasons = {
        400: "The body is not valid JSON or breaks a limit (the field is named in `param`).",
        401: "No valid endpoint API key.",
        404: "No such endpoint, or this key may not call it.",
        413: "The body is too large.",
        422: "The model's answer does not satisfy the project's output schema.",
        429: "Over the key's rate, or too many invalid keys from this address (see Retry-After).",
        503: "At capacity (see Retry-After).",
        504: "The answer took longer than the endpoint's request timeout.",
    }
    return {
        str(status): {"description": reasons[status], "content": _json(_ref("Error"))} for status in statuses
    }


CALL_ERRORS = (400, 401, 404, 413, 429, 503, 504)


def _operation(summary: str, body: str | None, ok: dict, *errors: int, secured: bool = True) -> dict:
    operation: dict = {"summary": summary, "responses": {"200": ok, **_errors(*errors)}}
    if body:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    if not secured:
        operation["security"] = []
    return operation


@cache
def openapi_document() -> dict:
    from serving.inference.app import ChatBody, CompletionBody, PredictBody

    _, bodies = models_json_schema(
        [(ChatBody, "validation"), (CompletionBody, "validation"), (PredictBody, "validation")],
        ref_template=REF,
    )
    schemas = {
        **bodies["$defs"],
        "Error": ERROR,
        "Usage": USAGE,
        "Routing": ROUTING,
        "ChatCompletion": CHAT_COMPLETION,
        "TextCompletion": TEXT_COMPLETION,
        "ModelList": MODEL_LIST,
        "Prediction": PREDICTION,
    }
    streamed = "The answer; with `stream: true`, server-sent events ending with `data: [DONE]`."
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SLM Studio inference API",
            "version": "1",
            "description": "OpenAI-compatible and task-native calls to the published endpoints. "
            "Authenticate with an endpoint API key as a Bearer token; `model` is the endpoint's slug.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"endpointKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"endpointKey": []}],
        "paths": {
            "/v1/chat/completions": {
                "post": _operation(
                    "Chat with an endpoint",
                    "ChatBody",
                    {"description": streamed, "content": {**_json(_ref("ChatCompletion")), **EVENTS}},
                    *CALL_ERRORS,
                )
            },
            "/v1/completions": {
                "post": _operation(
                    "Complete a raw prompt",
                    "CompletionBody",
                    {"description": streamed, "content": {**_json(_ref("TextCompletion")), **EVENTS}},
                    *CALL_ERRORS,
                )
            },
            "/v1/models": {
                "get": _operation(
                    "The endpoints this key may call",
                    None,
                    {"description": "The endpoints, as models.", "content": _json(_ref("ModelList"))},
                    401,
                    429,
                )
            },
            "/api/v1/endpoints/{slug}/predict": {
                "post": {
                    **_operation(
                        "Task-native prediction: output, label or JSON, confidence and route",
                        "PredictBody",
                        {"description": "The prediction.", "content": _json(_ref("Prediction"))},
                        *CALL_ERRORS,
                        422,
                    ),
                    "parameters": [
                        {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            },
            "/healthz": {
                "get": _operation(
                    "Liveness",
                    None,
                    {"description": "Alive.", "content": _json({"type": "object"})},
                    secured=False,
                )
            },
            "/readyz": {
                "get": {
                    **_operation(
                        "Readiness: models loaded, not draining",
                        None,
                        {"description": "Ready.", "content": _json({"type": "object"})},
                        secured=False,
                    ),
                    "responses": {
                        "200": {"description": "Ready.", "content": _json({"type": "object"})},
                        "503": {"description": "Not ready.", "content": _json({"type": "object"})},
                    },
                }
            },
            "/metrics": {
                "get": _operation(
                    "Prometheus metrics",
                    None,
                    {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    secured=False,
                )
            },
        },
    }
