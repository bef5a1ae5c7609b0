"""The inference process's HTTP API, driven by the official ``openai`` client and plain HTTP, against the
app on a real loopback port with the embedded engine (tiny random Llama + LoRA adapters). The control
plane is held in memory here; ``test_serve_process.py`` runs ``manage.py serve`` on the database."""

from __future__ import annotations

import json
import threading
import time

import httpx2 as httpx
import openai
import pytest

from serving.inference.app import build_app
from serving.inference.config import InferenceConfig
from serving.inference.control import KeyGrant
from serving.tests.conftest import ANIMALS
from serving.tests.inference_support import FallbackModel, LiveServer, MemoryControl, endpoint, version

KEY, OTHER_KEY = "slm_test-key-greeter-and-animals", "slm_test-key-other"


@pytest.fixture
def control(versions, tiny_base):
    control = MemoryControl(tiny_base)
    control.states = {
        "greeter": endpoint("greeter", "generation", version(1, versions["greeter"])),
        "animals": endpoint("animals", "classification", version(2, versions["animals"])),
        "echo": endpoint("echo", "generation", version(3, versions["echo"])),
    }
    control.keys = {
        KEY: KeyGrant(id=1, endpoints=frozenset({"greeter", "animals"}), rate_limit_per_minute=10_000),
        OTHER_KEY: KeyGrant(id=2, endpoints=frozenset({"echo"}), rate_limit_per_minute=10_000),
    }
    return control


def start(control, **config) -> LiveServer:
    from serving.engine.embedded import EmbeddedEngine

    config = InferenceConfig(state_poll_seconds=0.1, **config)
    return LiveServer(build_app(EmbeddedEngine(limits=config.limits, device="cpu"), control, config))


@pytest.fixture
def live(control):
    with start(control) as server:
        yield server


def client(live, key=KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=60)


def ask(text="hello there", **options):
    return {"messages": [{"role": "user", "content": text}], **options}


# -- the OpenAI client ---------------------------------------------------------------------------


def test_the_openai_client_chats_streams_and_lists_models(live):
    api = client(live)

    answer = api.chat.completions.create(model="greeter", max_tokens=8, **ask())
    pieces = []
    final = None
    for chunk in api.chat.completions.create(model="greeter", max_tokens=8, stream=True, **ask()):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            final = chunk
    listed = [model.id for model in api.models.list()]

    assert answer.choices[0].message.content, "the model answered nothing"
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.completion_tokens <= 8 and answer.usage.prompt_tokens > 0
    assert answer.model_extra["routing"] == {"route": "answer", "confidence": None, "model_version": 1}
    assert "".join(pieces) == answer.choices[0].message.content  # greedy: the same text, streamed
    assert len(pieces) > 1, "the answer came in one piece: not streamed"
    assert final.model_extra["routing"]["route"] == "answer"
    assert listed == ["animals", "greeter"]  # only what this key may call, never "echo"


def test_completions_answer_a_raw_prompt_streamed_or_not(live):
    api = client(live)

    whole = api.completions.create(model="greeter", prompt="Once upon a time", max_tokens=6)
    streamed = "".join(
        chunk.choices[0].text
        for chunk in api.completions.create(
            model="greeter", prompt="Once upon a time", max_tokens=6, stream=True
        )
        if chunk.choices
    )

    assert whole.choices[0].text and streamed == whole.choices[0].text
    assert whole.usage.completion_tokens <= 6


def test_a_classification_endpoint_answers_one_of_its_labels_with_its_confidence(live):
    answer = client(live).chat.completions.create(model="animals", **ask("a small animal that barks"))
    routing = answer.model_extra["routing"]

    assert answer.choices[0].message.content in ANIMALS
    assert 1 / len(ANIMALS) <= routing["confidence"] <= 1
    assert routing["route"] == "answer" and routing["model_version"] == 2
    # the label is the completion: its tokens are counted as if generated (they were 0, and costs with them)
    assert answer.usage.completion_tokens >= 1
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_keys_401_without_a_valid_key_and_404_for_an_endpoint_the_key_may_not_call(live):
    with pytest.raises(openai.AuthenticationError) as no_key:
        client(live, key="slm_not-a-key").chat.completions.create(model="greeter", **ask())
    with pytest.raises(openai.NotFoundError) as not_this_key:
        client(live, key=OTHER_KEY).chat.completions.create(model="greeter", **ask())
    with pytest.raises(openai.NotFoundError) as missing:
        client(live).chat.completions.create(model="no-such-endpoint", **ask())
    bare = httpx.post(f"{live.url}/v1/chat/completions", json={"model": "greeter", **ask()})

    assert no_key.value.status_code == 401 and no_key.value.code == "invalid_api_key"
    assert not_this_key.value.code == "model_not_found"
    assert missing.value.body == not_this_key.value.body | {"message": missing.value.body["message"]}
    assert bare.status_code == 401 and bare.json()["error"]["type"] == "authentication_error"


def test_guessing_keys_from_one_address_is_throttled_with_retry_after(control):
    with start(control, failed_key_limit=3) as live:
        guesses = [
            live.post("/v1/chat/completions", {"model": "animals", **ask()}, f"slm_guess{i}")
            for i in range(3)
        ]
        throttled = live.post("/v1/chat/completions", {"model": "animals", **ask()}, "slm_guess4")
        right_key = live.post("/v1/chat/completions", {"model": "animals", **ask()}, KEY)
        calls = control.auth_calls

    assert [answer.status_code for answer in guesses] == [401, 401, 401]
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "too_many_failed_keys"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert right_key.status_code == 429  # while the address waits, a right key answers like a wrong one
    assert calls == 3  # the throttled requests never reached the key check


def test_a_revoked_key_fails_within_a_second(live, control):
    api = client(live)
    api.chat.completions.create(model="animals", **ask())

    del control.keys[KEY]  # revoked in the control plane
    revoked_at = time.monotonic()
    while True:
        try:
            api.chat.completions.create(model="animals", **ask())
        except openai.AuthenticationError:
            break
        assert time.monotonic() - revoked_at < 1.0, "the revoked key still worked after a second"


# -- limits --------------------------------------------------------------------------------------


def test_limits_answer_with_their_documented_codes(live, control):
    control.update("greeter", max_input_tokens=5, max_tokens_cap=4)
    wait_for(lambda: live.inference.deployments.get("greeter").max_input_tokens == 5)
    api = client(live)

    with pytest.raises(openai.BadRequestError) as too_long:
        api.chat.completions.create(model="greeter", **ask("a message far longer than five tokens, surely"))
    with pytest.raises(openai.BadRequestError) as too_many:
        api.chat.completions.create(model="greeter", max_tokens=5, **ask("hi"))
    bad_body = live.post("/v1/chat/completions", {"model": "greeter", "messages": []}, KEY)
    not_json = httpx.post(
        f"{live.url}/v1/chat/completions", content=b"{", headers={"Authorization": f"Bearer {KEY}"}
    )

    assert too_long.value.code == "context_length_exceeded"
    assert too_many.value.code == "invalid_request_error" and too_many.value.param == "max_tokens"
    assert bad_body.status_code == 400 and bad_body.json()["error"]["param"] == "messages"
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"


def test_a_request_over_the_endpoints_timeout_gets_504(live, control):
    control.update("greeter", request_timeout_s=0.000_001)
    wait_for(lambda: live.inference.deployments.get("greeter").request_timeout_s < 0.001)

    answer = live.post("/v1/chat/completions", {"model": "greeter", **ask()}, KEY)

    assert answer.status_code == 504 and answer.json()["error"]["code"] == "timeout"


def test_the_rate_limit_answers_429_with_retry_after(live, control):
    control.keys[KEY] = KeyGrant(id=7, endpoints=frozenset({"animals"}), rate_limit_per_minute=2)
    time.sleep(0.6)  # the key cache forgets the old grant

    statuses = [live.post("/v1/chat/completions", {"model": "animals", **ask()}, KEY) for _ in range(3)]

    assert [answer.status_code for answer in statuses] == [200, 200, 429]
    assert statuses[2].json()["error"]["code"] == "rate_limit_exceeded"
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert [entry.status_code for entry in live.logs() if entry.key_id == 7] == [200, 200, 429]


def test_a_full_server_answers_503_with_retry_after(control):
    with start(control, max_in_flight=1) as live:
        with httpx.stream(
            "POST",
            f"{live.url}/v1/chat/completions",
            json={"model": "greeter", "stream": True, "max_tokens": 64, **ask()},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        ) as held:  # a stream holds its place until it ends
            assert held.status_code == 200
            refused = live.post("/v1/chat/completions", {"model": "animals", **ask()}, KEY)
        after = live.post("/v1/chat/completions", {"model": "animals", **ask()}, KEY)

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert after.status_code == 200, "the place of the stream was not given back"


def test_open_requests_are_capped_before_their_bodies_are_read(control):
    with (
        start(control, max_open_requests=1) as live,
        httpx.stream(
            "POST",
            f"{live.url}/v1/chat/completions",
            json={"model": "greeter", "stream": True, "max_tokens": 64, **ask()},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        ) as held,
    ):
        assert held.status_code == 200
        refused = live.post("/v1/chat/completions", {"model": "animals", **ask()}, KEY)
        health = httpx.get(f"{live.url}/healthz")

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert health.status_code == 200  # operations still see the server


# -- routing -------------------------------------------------------------------------------------


def test_an_answer_under_the_threshold_is_escalated_and_logged_for_review(live, control):
    control.update("animals", routing_threshold=1.0, fallback="review_queue")
    wait_for(lambda: live.inference.deployments.get("animals").routing_threshold == 1.0)

    answer = live.post("/api/v1/endpoints/animals/predict", {"input": "it meows"}, KEY).json()

    assert answer["route"] == "escalate" and answer["label"] in ANIMALS and answer["confidence"] < 1.0
    [entry] = live.logs()
    assert (entry.route, entry.status_code, entry.input_text) == ("escalate", 200, "it meows")
    assert entry.confidence == answer["confidence"]


def test_an_escalated_answer_is_forwarded_to_the_fallback_model(live, control):
    fallback = FallbackModel(answer="bird")
    try:
        control.update("animals", routing_threshold=1.0, fallback="forward", fallback_url=fallback.url)
        wait_for(lambda: live.inference.deployments.get("animals").fallback == "forward")

        answer = client(live).chat.completions.create(model="animals", **ask("it sings at dawn"))
        slow = FallbackModel(delay=3)
        control.update("animals", fallback_url=slow.url, fallback_timeout_s=0.2)
        wait_for(lambda: live.inference.deployments.get("animals").fallback_timeout_s == 0.2)
        timed_out = live.post("/api/v1/endpoints/animals/predict", {"input": "it sings at dawn"}, KEY).json()
    finally:
        fallback.close()

    assert answer.choices[0].message.content == "bird"
    assert answer.model_extra["routing"]["route"] == "fallback"
    assert fallback.requests[0]["messages"][-1] == {"role": "user", "content": "it sings at dawn"}
    assert timed_out["route"] == "escalate" and timed_out["label"] in ANIMALS  # its own answer, marked unsure
    assert [(e.route, e.error_code) for e in live.logs()] == [
        ("fallback", ""),
        ("escalate", "fallback_failed"),
    ]


def test_a_shadow_answers_beside_production_logged_never_returned(live, control, versions):
    control.update("greeter", shadow=version(5, versions["echo"], id=55))
    wait_for(lambda: live.inference.deployments.get("greeter").shadow is not None)

    answer = client(live).chat.completions.create(model="greeter", max_tokens=4, **ask())
    wait_for(lambda: len(live.logs()) == 2)
    production, shadow = live.logs()

    assert answer.model_extra["routing"]["model_version"] == 1
    assert (production.route, production.version_id) == ("answer", 1)
    assert (shadow.route, shadow.version_id, shadow.shadow_of) == ("shadow", 55, production)


def test_a_canary_takes_its_share_of_the_traffic(live, control, versions):
    control.update("animals", canary=version(9, versions["animals"], id=99), canary_percent=100)
    wait_for(lambda: live.inference.deployments.get("animals").canary is not None)

    answer = live.post("/api/v1/endpoints/animals/predict", {"input": "a cat"}, KEY).json()

    assert answer["model_version"] == 9


def test_predict_answers_in_the_task_native_shape(live):
    label = live.post("/api/v1/endpoints/animals/predict", {"input": "woof"}, KEY).json()
    text = live.post("/api/v1/endpoints/greeter/predict", {"input": "hi", "max_tokens": 5}, KEY).json()

    assert set(label) == {"output", "label", "confidence", "route", "model_version", "latency_ms"}
    assert label["output"] == label["label"] in ANIMALS and label["latency_ms"] > 0
    assert set(text) == {"output", "confidence", "route", "model_version", "latency_ms"}
    assert text["confidence"] is None and text["route"] == "answer"


def test_a_promotion_during_load_switches_versions_with_no_failed_request(live, control, versions):
    results: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def caller():
        while not stop.is_set():
            answer = live.post("/api/v1/endpoints/greeter/predict", {"input": "hi", "max_tokens": 2}, KEY)
            results.append((answer.status_code, answer.json().get("model_version")))

    callers = [threading.Thread(target=caller) for _ in range(4)]
    for thread in callers:
        thread.start()
    wait_for(lambda: len(results) >= 8)
    control.update("greeter", production=version(4, versions["echo"], id=44))  # promoted
    wait_for(lambda: results[-1][1] == 4 and len([r for r in results if r[1] == 4]) >= 8, timeout=60)
    control.update("greeter", production=version(1, versions["greeter"]))  # rolled back
    wait_for(lambda: results[-1][1] == 1 and len([r for r in results if r[1] == 1]) >= 16, timeout=60)
    stop.set()
    for thread in callers:
        thread.join()

    assert {status for status, _ in results} == {200}
    assert live.inference.deployments.switches == 2
    assert "model-version-44" not in live.inference.engine.health().adapters  # unloaded once unused


# -- operations ----------------------------------------------------------------------------------


def test_health_readiness_and_metrics(live):
    client(live).chat.completions.create(model="animals", **ask())

    ready = httpx.get(f"{live.url}/readyz").json()
    metrics = httpx.get(f"{live.url}/metrics").text

    assert httpx.get(f"{live.url}/healthz").json() == {"status": "ok"}
    assert ready["status"] == "ready" and ready["endpoints"] == 3
    assert 'slm_requests_total{endpoint="animals",route="answer",status="200"} 1.0' in metrics
    assert "slm_request_latency_seconds_bucket" in metrics and "slm_engine_queued" in metrics


def test_unknown_routes_and_methods_answer_json_errors(live):
    missing = httpx.get(f"{live.url}/v1/nothing")
    wrong_method = httpx.get(f"{live.url}/v1/chat/completions")

    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_the_vllm_backend_answers_through_the_same_api(control):
    from serving.engine.vllm import VllmEngine
    from serving.tests.vllm_stub import VllmStub

    with VllmStub() as stub:
        config = InferenceConfig(backend="vllm", vllm_url=stub.url, state_poll_seconds=0.1)
        with LiveServer(build_app(VllmEngine(stub.url, limits=config.limits), control, config)) as live:
            api = client(live)
            answer = api.chat.completions.create(model="greeter", max_tokens=4, **ask())
            streamed = "".join(
                chunk.choices[0].delta.content or ""
                for chunk in api.chat.completions.create(model="greeter", max_tokens=4, stream=True, **ask())
                if chunk.choices
            )
            label = api.chat.completions.create(model="animals", **ask("it barks"))
        loaded = [body["lora_name"] for body in stub.requests_to("/v1/load_lora_adapter")]

    assert answer.choices[0].message.content.startswith("model-version-1 heard")
    assert streamed == answer.choices[0].message.content
    assert label.choices[0].message.content in ANIMALS
    assert sorted(loaded) == ["model-version-1", "model-version-2", "model-version-3"]


@pytest.mark.slow
def test_the_real_smollm2_with_a_lora_adapter_answers_over_http(tmp_path):
    import json
    import os
    from pathlib import Path

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.engine.base_models import ensure_cached, load_tokenizer

    cache = Path(os.environ.get("STUDIO_MODEL_CACHE") or tmp_path / "model-cache")
    base = ensure_cached(None, cache).path
    adapter = tmp_path / "adapter"  # a fresh LoRA (B = 0): answers exactly as the base model does
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=8, target_modules="all-linear")
    )
    model.save_pretrained(adapter)
    load_tokenizer(base).save_pretrained(adapter)
    config = {"task_type": "generation", "instructions": "Answer in one short sentence.", "labels": None}
    (adapter / "training_config.json").write_text(json.dumps({**config, "base_model": {"path": str(base)}}))
    control = MemoryControl(base)
    control.states = {"facts": endpoint("facts", "generation", version(1, adapter))}
    control.keys = {KEY: KeyGrant(id=1, endpoints=frozenset({"facts"}), rate_limit_per_minute=100)}

    with start(control) as live:
        answer = client(live).chat.completions.create(
            model="facts", max_tokens=12, **ask("What is the capital of France?")
        )

    assert "Paris" in answer.choices[0].message.content


def test_an_extraction_endpoint_answers_json_held_to_the_projects_schema(live, control, versions):
    schema = {
        "type": "object",
        "properties": {"animal": {"enum": ["cat", "dog"]}, "legs": {"type": "integer", "maximum": 8}},
        "required": ["animal", "legs"],
        "additionalProperties": False,
    }
    control.states["extract"] = endpoint(
        "extract", "extraction", version(1, versions["greeter"]), output_schema=schema
    )
    control.keys[KEY] = KeyGrant(id=1, endpoints=frozenset({"extract"}), rate_limit_per_minute=10_000)
    wait_for(lambda: live.inference.deployments.get("extract") is not None)
    time.sleep(0.6)  # the key cache forgets the old grant

    answer = live.post(
        "/api/v1/endpoints/extract/predict", {"input": "a dog with four legs", "max_tokens": 40}, KEY
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["json"]["animal"] in ("cat", "dog") and isinstance(
        answer.json()["json"]["legs"], int
    )
    assert json.loads(answer.json()["output"]) == answer.json()["json"]


def test_a_version_that_fails_to_load_leaves_the_endpoint_on_the_one_it_served(live, control, tmp_path):
    control.update("greeter", production=version(6, tmp_path / "missing", id=66))
    wait_for(lambda: "model-version-66" in live.inference.deployments._failed)

    answer = live.post("/api/v1/endpoints/greeter/predict", {"input": "hi", "max_tokens": 2}, KEY)

    assert answer.status_code == 200 and answer.json()["model_version"] == 1
