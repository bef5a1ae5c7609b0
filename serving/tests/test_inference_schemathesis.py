"""schemathesis against the inference process's own OpenAPI document, with an endpoint API key: no 5xx,
every answer as documented, every refusal in OpenAI's error shape.

The app runs on a loopback port with the embedded engine (tiny random Llama + LoRA adapters) and a
control plane held in memory; the document is the one the app serves at /openapi.json. Generated
bodies name one of the two real endpoints (a generation and a classification one, capped at a few
tokens so each answer is cheap), so they reach the engine rather than stopping at a 404. Bounded and
derandomized: the same examples on every run.
"""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.inference.app import build_app
from serving.inference.config import InferenceConfig
from serving.inference.control import KeyGrant
from serving.tests.inference_support import LiveServer, MemoryControl, endpoint, version

KEY = "slm_schemathesis-key"
SLUGS = ("greeter", "animals")
MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def live(versions, tiny_base):
    from serving.engine.embedded import EmbeddedEngine

    control = MemoryControl(tiny_base)
    control.states = {
        "greeter": endpoint("greeter", "generation", version(1, versions["greeter"]), max_tokens_cap=6),
        "animals": endpoint("animals", "classification", version(2, versions["animals"]), max_tokens_cap=6),
    }
    control.keys = {KEY: KeyGrant(id=1, endpoints=frozenset(SLUGS), rate_limit_per_minute=100_000)}
    # Generated calls without a key must not lock the loopback address out of the rest of the run.
    config = InferenceConfig(state_poll_seconds=0.1, failed_key_limit=10_000)
    with LiveServer(build_app(EmbeddedEngine(limits=config.limits, device="cpu"), control, config)) as server:
        yield server


@pytest.fixture(scope="module")
def inference_schema(live):
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("inference_schema")


def openai_shaped_refusal(ctx, response, case):
    """A refusal is JSON in OpenAI's error shape, without a traceback or the names of the server's parts."""
    if response.status_code < 400:
        return None
    body = json.loads(response.text)
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["code"], str) and isinstance(error["type"], str), body
    assert (error["type"] == "server_error") == (response.status_code >= 500), body
    assert not re.search(r"Traceback|File \"|pydantic|starlette|uvicorn", response.text, re.I), body
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_inference_api_never_answers_5xx_and_refuses_in_openais_shape(case, live):
    slug = SLUGS[len(repr(case.body)) % 2]
    if isinstance(case.body, dict) and "model" in case.body:
        case.body["model"] = slug
    if case.path_parameters and "slug" in case.path_parameters:
        case.path_parameters["slug"] = slug
    case.call_and_validate(
        base_url=live.url,
        headers={"Authorization": f"Bearer {KEY}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            openai_shaped_refusal,
        ],
        timeout=60,
    )
