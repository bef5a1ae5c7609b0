"""The vllm backend against a local stub of vLLM's OpenAI-compatible server (a real HTTP server)."""

import shutil
import threading
import time

import pytest

from serving.engine.config import EngineLimits
from serving.engine.errors import (
    AdapterExists,
    AdapterLoadFailed,
    BackendUnavailable,
    EngineClosed,
    InvalidRequest,
    Overloaded,
    Timeout,
    UnknownAdapter,
)
from serving.engine.protocol import ClassifyRequest, GenerateRequest, collect
from serving.engine.versions import TokenizerPool, read_version
from serving.engine.vllm import VllmEngine
from serving.tests.conftest import ANIMALS
from serving.tests.helpers import Hold
from serving.tests.vllm_stub import VllmStub


def builder_of(folder):
    return TokenizerPool().builder(read_version(folder))


def ask(adapter: str, text: str = "hello", **options) -> GenerateRequest:
    return GenerateRequest(adapter=adapter, messages=[{"role": "user", "content": text}], **options)


@pytest.fixture
def stub():
    with VllmStub() as server:
        yield server


@pytest.fixture
def engine(stub, versions):
    engine = VllmEngine(stub.url, limits=EngineLimits(max_batch_size=2, max_queue=1))
    engine.load("greeter@v1", versions["greeter"])
    engine.load("animals@v2", versions["animals"])
    yield engine
    stub.release()
    engine.close(timeout=10)


def test_adapters_are_loaded_through_vllms_api_with_the_path_it_sees(stub, versions, tmp_path):
    mounted = tmp_path / "mnt"  # the artifacts as the vLLM machine mounts them
    shutil.copytree(versions["greeter"], mounted / "greeter")
    engine = VllmEngine(stub.url, path_map={str(versions["greeter"].parent.resolve()): str(mounted)})

    info = engine.load("support-greeter@v3", versions["greeter"])

    assert stub.requests_to("/v1/load_lora_adapter") == [
        {"lora_name": "support-greeter@v3", "lora_path": str(mounted / "greeter")}
    ]
    assert stub.loras == {"support-greeter@v3": str(mounted / "greeter")}
    assert info.kind == "lora" and info.instructions == "Greet the user."
    restarted = VllmEngine(stub.url, path_map={str(versions["greeter"].parent.resolve()): str(mounted)})
    restarted.load("support-greeter@v3", versions["greeter"])  # vLLM still has it: that is fine
    assert collect(restarted.generate(ask("support-greeter@v3"))).text.startswith("support-greeter@v3 heard")
    engine.unload("support-greeter@v3")
    assert stub.requests_to("/v1/unload_lora_adapter") == [{"lora_name": "support-greeter@v3"}]
    assert stub.loras == {}


def test_completions_name_the_adapter_and_stream_through(stub, engine, versions):
    stream = engine.generate(ask("greeter@v1", "good morning", max_tokens=20))
    chunks = list(stream)

    [sent] = stub.requests_to("/v1/completions")
    prompt = builder_of(versions["greeter"]).chat_ids([{"role": "user", "content": "good morning"}])
    assert sent["model"] == "greeter@v1" and sent["stream"] is True
    assert sent["prompt"] == prompt  # the same tokens the embedded engine would run, instructions included
    text = "".join(chunk.text for chunk in chunks)
    assert text == f"greeter@v1 heard {len(prompt)} tokens and answers kindly"
    assert len(chunks) == 7 and chunks[-1].finish_reason == "stop"
    assert stream.usage.prompt_tokens == len(prompt) and stream.usage.completion_tokens == 7


def test_stop_strings_and_max_tokens_pass_through(engine):
    stopped = collect(engine.generate(ask("greeter@v1", max_tokens=20, stop=(" and",))))
    assert stopped.text.endswith("tokens") and stopped.finish_reason == "stop"

    cut = collect(engine.generate(ask("greeter@v1", max_tokens=2)))
    assert cut.text.count(" ") == 1 and cut.finish_reason == "length" and cut.usage.completion_tokens == 2


def test_classification_scores_the_labels_from_vllms_prompt_logprobs(stub, engine, versions):
    dog = builder_of(versions["animals"]).label_sequences(None)["dog"]
    stub.favoured["animals@v2"] = set(dog)  # the served model "thinks" dog

    result = engine.classify(ClassifyRequest("animals@v2", "it says woof"))

    assert result.label == "dog" and result.confidence > 0.9
    assert set(result.probabilities) == set(ANIMALS)
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    [sent] = stub.requests_to("/v1/completions")
    assert sent["model"] == "animals@v2" and len(sent["prompt"]) == len(ANIMALS)

    unsure = engine.classify(ClassifyRequest("animals@v2", "it says woof", labels=("cat", "bird")))
    assert unsure.label in {"cat", "bird"} and set(unsure.probabilities) == {"cat", "bird"}


def test_refusals_become_the_engines_errors(stub, engine, versions, tmp_path):
    with pytest.raises(UnknownAdapter):
        engine.generate(ask("nobody@v1"))
    with pytest.raises(AdapterExists):
        engine.load("greeter@v1", versions["greeter"])

    stub.loras.clear()  # vLLM restarted and forgot the adapters
    with pytest.raises(UnknownAdapter):
        engine.generate(ask("greeter@v1"))
    assert engine.health().details["missing_on_server"] == ["animals@v2", "greeter@v1"]
    assert not engine.health().ready

    stub.status_override = 503
    with pytest.raises(Overloaded):
        engine.classify(ClassifyRequest("animals@v2", "it says woof"))

    full = tmp_path / "full"
    full.mkdir()
    (full / "training_config.json").write_text('{"hyperparameters": {"method": "full"}}')
    (full / "config.json").write_text("{}")
    with pytest.raises(AdapterLoadFailed) as whole_model:
        engine.load("full@v1", full)
    assert "own vLLM server" in whole_model.value.message


def test_an_adapter_the_server_cannot_see_is_refused_with_its_reason(stub, versions, tmp_path):
    unmounted = {str(versions["greeter"].parent.resolve()): str(tmp_path / "not-mounted")}
    engine = VllmEngine(stub.url, path_map=unmounted)
    with pytest.raises(AdapterLoadFailed) as refused:
        engine.load("greeter@v1", versions["greeter"])
    assert "No adapter found" in refused.value.message
    assert engine.adapters() == []


def test_a_server_without_runtime_lora_loading_is_explained(versions):
    with VllmStub(runtime_lora=False) as stub:
        engine = VllmEngine(stub.url)
        with pytest.raises(AdapterLoadFailed) as refused:
            engine.load("greeter@v1", versions["greeter"])
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in refused.value.message


def test_an_unreachable_server_is_backend_unavailable(versions, stub):
    engine = VllmEngine(stub.url)
    engine.load("greeter@v1", versions["greeter"])
    stub.__exit__()

    with pytest.raises(BackendUnavailable):
        engine.generate(ask("greeter@v1"))
    assert not engine.health().ready


def test_in_flight_requests_are_bounded_and_close_waits_for_them(stub, engine):
    stub.hold()
    streams = [engine.generate(ask(name)) for name in ("greeter@v1", "animals@v2", "greeter@v1")]
    with pytest.raises(Overloaded):  # max_batch_size + max_queue = 3 in flight
        engine.generate(ask("greeter@v1"))
    closing = threading.Thread(target=engine.close)
    closing.start()
    while engine.health().ready:
        time.sleep(0.01)
    with pytest.raises(EngineClosed):
        engine.generate(ask("greeter@v1"))
    assert closing.is_alive()  # waiting for the streams in flight

    stub.release()
    assert [collect(stream).finish_reason for stream in streams] == ["stop"] * 3
    closing.join(timeout=10)
    assert not closing.is_alive()


def test_unload_waits_for_in_flight_requests_before_unloading_on_the_server(stub, engine):
    stub.hold()
    in_flight = engine.generate(ask("greeter@v1"))
    unloading = threading.Thread(target=engine.unload, args=("greeter@v1",))
    unloading.start()
    while "greeter@v1" in {info.name for info in engine.adapters()}:
        time.sleep(0.01)

    with pytest.raises(UnknownAdapter):
        engine.generate(ask("greeter@v1"))
    assert "greeter@v1" in stub.loras  # still answering the request in flight
    stub.release()
    assert collect(in_flight).text.startswith("greeter@v1 heard")
    unloading.join(timeout=10)
    assert "greeter@v1" not in stub.loras


def test_a_deadline_that_passes_mid_stream_raises_timeout(stub, engine):
    stub.hold()
    stream = engine.generate(ask("greeter@v1", deadline=time.monotonic() + 1.0))
    received = []
    with pytest.raises(Timeout):
        for chunk in stream:
            received.append(chunk)
    assert [chunk.text for chunk in received] == ["greeter@v1"]
    assert engine.health().active == 0  # its place was given back


def test_a_base_model_serves_under_a_name(stub, tiny_base):
    engine = VllmEngine(stub.url)
    engine.load_base("baseline@v0", tiny_base, training_config={"instructions": "Greet the user."})

    text = collect(engine.generate(ask("baseline@v0"))).text

    assert text.startswith("tiny-base heard") and stub.loras == {}
    engine.unload("baseline@v0")
    assert stub.requests_to("/v1/unload_lora_adapter") == []


def test_a_json_schema_constraint_is_sent_as_response_format_and_others_are_refused(stub, engine):
    class SchemaConstraint(Hold):
        json_schema = {"type": "object", "properties": {"people": {"type": "integer"}}}

    collect(engine.generate(ask("greeter@v1", constraint=SchemaConstraint())))
    [sent] = stub.requests_to("/v1/completions")
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SchemaConstraint.json_schema},
    }
    with pytest.raises(InvalidRequest) as refused:
        engine.generate(ask("greeter@v1", constraint=Hold()))
    assert "json_schema" in refused.value.message
