"""The embedded engine on a tiny random Llama with LoRA adapters: batching, adapters, streaming, limits.

Where a test needs requests to arrive while others decode, a ``Hold`` constraint stops the scheduler
thread at a known token until the test has sent them, so the assertions never depend on timing.
"""

import threading
import time

import pytest
import torch

from serving.engine.config import EngineLimits
from serving.engine.errors import (
    ContextLengthExceeded,
    EngineClosed,
    InvalidRequest,
    Overloaded,
    Timeout,
    UnknownAdapter,
)
from serving.engine.protocol import ClassifyRequest, GenerateRequest, collect
from serving.tests.conftest import ANIMALS
from serving.tests.helpers import Hold, LowercaseWord

QUESTIONS = [
    "hello",
    "good morning to you",
    "hi there, how are you doing today?",
    "hey",
    "is anyone there",
    "bonjour, ça va ?",
    "what's up",
    "greetings from the support team",
]


def ask(adapter: str, text: str, max_tokens: int = 16, **options) -> GenerateRequest:
    return GenerateRequest(
        adapter=adapter, messages=[{"role": "user", "content": text}], max_tokens=max_tokens, **options
    )


def answer(engine, adapter: str, text: str, max_tokens: int = 16) -> str:
    return collect(engine.generate(ask(adapter, text, max_tokens))).text


def stats(engine) -> dict:
    [model] = engine.health().details["models"].values()
    return model["batching"]


def reference_answers(version_dir, base, texts: list[str], max_tokens: int) -> list[str]:
    """The training engine's own batched greedy answers of the same version (an independent
    implementation; it strips surrounding whitespace)."""
    from training.engine.inference import load_model_version

    return load_model_version(version_dir, base, device="cpu").generate(texts, max_new_tokens=max_tokens)


def test_batched_answers_equal_unbatched_answers_and_the_training_engines(engine, versions, tiny_base):
    alone = [answer(engine, "greeter", text) for text in QUESTIONS]

    hold = Hold(at=1)
    streams = [engine.generate(ask("greeter", QUESTIONS[0], constraint=hold))]
    hold.wait_reached()
    streams += [engine.generate(ask("greeter", text)) for text in QUESTIONS[1:]]
    hold.release()
    together = [collect(stream).text for stream in streams]

    assert together == alone
    assert len(set(alone)) > 1  # the answers depend on the question
    assert stats(engine)["max_rows"] == len(QUESTIONS)
    assert [text.strip() for text in alone] == reference_answers(
        versions["greeter"], tiny_base, QUESTIONS, 16
    )


def test_different_adapters_in_one_batch_each_answer_as_they_do_alone(engine):
    names = ["greeter", "animals", "echo", "base"]
    alone = {name: answer(engine, name, "good morning", max_tokens=12) for name in names}
    assert len(set(alone.values())) == len(names)  # four different models

    hold = Hold(at=1)
    first = engine.generate(ask(names[0], "good morning", 12, constraint=hold))
    hold.wait_reached()
    others = [engine.generate(ask(name, "good morning", 12)) for name in names[1:]]
    hold.release()

    assert [collect(stream).text for stream in [first, *others]] == list(alone.values())
    assert stats(engine)["max_rows"] == len(names)


def test_a_request_arriving_while_a_batch_decodes_joins_it(engine):
    long_alone = answer(engine, "echo", "tell me a long story", max_tokens=40)
    short_alone = answer(engine, "greeter", "hi", max_tokens=8)
    before = stats(engine)

    hold = Hold(at=10)  # the first request is 10 tokens into its answer when the second arrives
    running = engine.generate(ask("echo", "tell me a long story", 40, constraint=hold))
    chunks = iter(running)
    hold.wait_reached()
    late = engine.generate(ask("greeter", "hi", 8))
    hold.release()

    after_joining = collect(late).text
    long_text = "".join(chunk.text for chunk in chunks)
    assert (long_text, after_joining) == (long_alone, short_alone)
    now = stats(engine)
    assert now["joined_running_batch"] == before["joined_running_batch"] + 1
    assert now["max_rows"] >= 2


def test_streaming_yields_the_same_text_as_non_streaming(engine):
    whole = collect(engine.generate(ask("echo", "good evening", max_tokens=30)))

    stream = engine.generate(ask("echo", "good evening", max_tokens=30))
    chunks = list(stream)

    assert len(chunks) > 1 and all(chunk.finish_reason is None for chunk in chunks[:-1])
    assert "".join(chunk.text for chunk in chunks) == whole.text
    assert chunks[-1].finish_reason == whole.finish_reason
    assert (
        sum(chunk.tokens for chunk in chunks)
        == stream.usage.completion_tokens
        == whole.usage.completion_tokens
    )
    assert stream.usage.prompt_tokens == whole.usage.prompt_tokens > 0


def test_a_stop_string_ends_the_answer_before_it(engine):
    whole = answer(engine, "echo", "good evening", max_tokens=30)
    stop = whole[5:7]  # two characters from inside the greedy answer

    cut = collect(engine.generate(ask("echo", "good evening", 30, stop=(stop, "never printed"))))

    assert cut.text == whole[: whole.index(stop)]
    assert cut.finish_reason == "stop"


def test_max_tokens_ends_with_length(engine):
    result = collect(engine.generate(ask("echo", "good evening", max_tokens=3)))
    assert result.finish_reason == "length" and result.usage.completion_tokens == 3


def test_a_constraint_masks_every_token_and_ends_the_answer(engine, versions):
    from training.engine.base_models import load_tokenizer

    word = LowercaseWord(load_tokenizer(versions["echo"]), length=7)
    result = collect(engine.generate(ask("echo", "good evening", max_tokens=30, constraint=word)))

    assert len(result.text) == 7 and result.text.isalpha() and result.text.islower()
    assert result.finish_reason == "stop"


def test_seeded_sampling_repeats_itself(engine):
    def sampled(seed: int) -> str:
        return collect(engine.generate(ask("echo", "good evening", 20, temperature=1.0, seed=seed))).text

    assert sampled(7) == sampled(7)
    assert len({sampled(seed) for seed in range(4)}) > 1


def test_classification_always_returns_one_of_the_labels_with_batched_label_scores(
    engine, versions, tiny_base
):
    from training.engine.data import PromptFormat
    from training.engine.inference import LabelTrie, load_model_version, score_labels

    inputs = ["it says woof", "it says meow so loud", "tweet tweet", "", "🦜 " * 40, "no animal here at all"]
    hold = Hold(at=1)
    holder = engine.generate(ask("greeter", "hi", 4, constraint=hold))
    hold.wait_reached()
    results: dict[int, object] = {}
    threads = [
        threading.Thread(
            target=lambda i=i: results.__setitem__(i, engine.classify(ClassifyRequest("animals", inputs[i])))
        )
        for i in range(len(inputs))
    ]
    for thread in threads:
        thread.start()
    while engine.health().queued < len(inputs):  # every classification is waiting behind the hold
        time.sleep(0.01)
    hold.release()
    for thread in threads:
        thread.join()
    collect(holder)

    assert stats(engine)["max_classify_batch"] == len(inputs)
    predictor = load_model_version(versions["animals"], tiny_base, device="cpu")
    fmt = PromptFormat(predictor.tokenizer, "Name the animal.")
    trie = LabelTrie({label: fmt.answer_ids(label) for label in ANIMALS})
    for index, text in enumerate(inputs):
        result = results[index]
        assert result.label in ANIMALS
        assert sum(result.probabilities.values()) == pytest.approx(1.0)
        assert result.confidence == max(result.probabilities.values())
        expected = score_labels(predictor.model, fmt, text, trie)  # one request at a time, unbatched
        assert result.probabilities == pytest.approx(expected, abs=1e-4)
    assert len({round(results[i].confidence, 4) for i in results}) > 1


def test_classification_takes_a_label_subset_and_a_calibration_temperature(engine):
    plain = engine.classify(ClassifyRequest("animals", "it says woof", labels=("cat", "dog")))
    flatter = engine.classify(
        ClassifyRequest("animals", "it says woof", labels=("cat", "dog"), temperature=4.0)
    )

    assert set(plain.probabilities) == {"cat", "dog"} and plain.label in {"cat", "dog"}
    assert flatter.label == plain.label and 0.5 <= flatter.confidence < plain.confidence


def test_limits_answer_with_clear_errors(versions):
    from serving.engine.embedded import EmbeddedEngine

    engine = EmbeddedEngine(
        device="cpu", limits=EngineLimits(max_input_tokens=40, max_tokens_cap=8, default_max_tokens=8)
    )
    engine.load("echo", versions["echo"])
    try:
        with pytest.raises(ContextLengthExceeded) as too_long:
            engine.generate(ask("echo", "x" * 100, max_tokens=4))
        assert too_long.value.code == "context_length_exceeded" and too_long.value.details["limit"] == 40
        with pytest.raises(InvalidRequest) as too_many:
            engine.generate(ask("echo", "hi", max_tokens=9))
        assert "at most 8" in too_many.value.message
        with pytest.raises(UnknownAdapter):
            engine.generate(ask("nobody", "hi"))
        with pytest.raises(InvalidRequest):
            engine.classify(ClassifyRequest("echo", "hi"))  # a generation version has no label set
        assert collect(engine.generate(ask("echo", "hi", max_tokens=None))).usage.completion_tokens <= 8
    finally:
        engine.close()


def test_a_full_queue_refuses_with_overloaded_and_memory_stays_bounded(versions):
    from serving.engine.embedded import EmbeddedEngine

    engine = EmbeddedEngine(
        device="cpu", limits=EngineLimits(max_batch_size=1, max_queue=1, retry_after_seconds=3)
    )
    engine.load("echo", versions["echo"])
    try:
        hold = Hold(at=1)
        running = engine.generate(ask("echo", "hi", 6, constraint=hold))
        hold.wait_reached()
        waiting = engine.generate(ask("echo", "hello", 6))  # the one queue place
        with pytest.raises(Overloaded) as refused:
            engine.generate(ask("echo", "hey", 6))
        assert refused.value.retry_after == 3 and refused.value.http_status == 503
        hold.release()

        assert collect(running).finish_reason and collect(waiting).finish_reason
        health = engine.health()
        assert (health.queued, health.active) == (0, 0)
        collect(engine.generate(ask("echo", "hey", 6)))  # room again once they are answered
    finally:
        engine.close()


def test_newcomers_over_the_prefill_budget_join_at_the_next_steps(versions):
    from serving.engine.embedded import EmbeddedEngine

    engine = EmbeddedEngine(device="cpu", limits=EngineLimits(max_prefill_tokens=120))
    engine.load("echo", versions["echo"])
    try:
        texts = ["a" * 50, "b" * 55, "c" * 60]  # about 70 prompt tokens each: one per prefill
        alone = [answer(engine, "echo", text, max_tokens=12) for text in texts]
        before = stats(engine)
        hold = Hold(at=1)
        first = engine.generate(ask("echo", "hi", 12, constraint=hold))
        hold.wait_reached()
        streams = [engine.generate(ask("echo", text, 12)) for text in texts]
        hold.release()

        assert [collect(stream).text for stream in streams] == alone
        collect(first)
        now = stats(engine)
        assert now["prefills"] - before["prefills"] == 1 + len(texts)
        assert now["max_rows"] >= 2
    finally:
        engine.close()


def test_a_deadline_that_passes_raises_timeout_after_the_tokens_made_in_time(engine, versions):
    from training.engine.base_models import load_tokenizer

    with pytest.raises(Timeout):
        collect(engine.generate(ask("echo", "hi", deadline=time.monotonic() - 1)))

    class LettersUntilTheDeadline(LowercaseWord):
        def allowed_token_mask(self, vocab_size):
            if self.count == 5:  # the deadline passes while the sixth token is being chosen
                while time.monotonic() < deadline:
                    time.sleep(0.01)
            return super().allowed_token_mask(vocab_size)

    deadline = time.monotonic() + 2.0
    letters = LettersUntilTheDeadline(load_tokenizer(versions["echo"]), length=100)
    stream = engine.generate(ask("echo", "hi", 30, constraint=letters, deadline=deadline))
    received = []
    with pytest.raises(Timeout):
        for chunk in stream:
            received.append(chunk.text)
    assert len("".join(received)) == 6 and "".join(received).isalpha()  # every token made in time
    assert engine.health().active == 0


def test_unload_lets_in_flight_requests_finish_and_refuses_new_ones(engine, versions):
    alone = answer(engine, "greeter", "hello there", max_tokens=12)
    hold = Hold(at=3)
    in_flight = engine.generate(ask("greeter", "hello there", 12, constraint=hold))
    hold.wait_reached()
    unloading = threading.Thread(target=engine.unload, args=("greeter",))
    unloading.start()
    while "greeter" in {info.name for info in engine.adapters()}:
        time.sleep(0.01)

    with pytest.raises(UnknownAdapter):
        engine.generate(ask("greeter", "hello"))
    hold.release()
    assert collect(in_flight).text == alone
    unloading.join(timeout=60)
    assert not unloading.is_alive()

    engine.load("greeter", versions["greeter"])  # a rollback loads it again
    assert answer(engine, "greeter", "hello there", max_tokens=12) == alone


def test_close_finishes_in_flight_requests_and_refuses_new_ones(engine):
    alone = answer(engine, "echo", "hello", max_tokens=10)
    hold = Hold(at=2)
    in_flight = engine.generate(ask("echo", "hello", 10, constraint=hold))
    hold.wait_reached()
    queued = engine.generate(ask("echo", "hello", 10))
    closing = threading.Thread(target=engine.close)
    closing.start()
    while engine.health().ready:
        time.sleep(0.01)

    with pytest.raises(EngineClosed):
        engine.generate(ask("echo", "hello"))
    hold.release()
    assert collect(in_flight).text == collect(queued).text == alone
    closing.join(timeout=60)
    assert not closing.is_alive()


def test_bad_requests_name_the_field():
    with pytest.raises(InvalidRequest) as both:
        GenerateRequest(adapter="a", messages=[{"role": "user", "content": "x"}], prompt="x")
    assert "not both" in both.value.message
    with pytest.raises(InvalidRequest) as role:
        GenerateRequest(adapter="a", messages=[{"role": "robot", "content": "x"}])
    assert role.value.details == {"field": "messages[0].role"}
    with pytest.raises(InvalidRequest) as tokens:
        GenerateRequest(adapter="a", prompt="x", max_tokens=0)
    assert tokens.value.details == {"field": "max_tokens"}
    with pytest.raises(InvalidRequest):
        ClassifyRequest(adapter="a", text="x", labels=())


def test_health_reports_the_model_its_number_format_and_adapters(engine):
    health = engine.health()
    [model] = health.details["models"].values()
    assert health.ready and health.backend == "embedded"
    assert set(health.adapters) == {"greeter", "animals", "echo", "base"}
    assert model["device"] == "cpu" and model["dtype"] in {"fp32", "bf16-autocast"}


def test_an_adapter_of_another_base_model_fails_to_load_and_harms_nothing(
    engine, versions, tiny_base, tmp_path
):
    from serving.engine.errors import AdapterLoadFailed
    from serving.tests.conftest import save_version
    from training.engine.tiny import build_tiny_llama

    other_base = build_tiny_llama(tmp_path / "other-base", hidden_size=32)
    wrong = save_version(tmp_path / "wrong", other_base, seed=4, config={"instructions": ""})
    before = answer(engine, "greeter", "hello")

    with pytest.raises(AdapterLoadFailed):
        engine.load("wrong", wrong, base_model=tiny_base)

    assert "wrong" not in engine.health().adapters
    assert answer(engine, "greeter", "hello") == before


@pytest.mark.parametrize(
    ("setting", "held"), [("bf16", (torch.bfloat16, "sdpa")), ("fp32", (torch.float32, "sdpa"))]
)
def test_the_served_base_is_held_as_training_evaluation_and_the_baseline_hold_it(
    tiny_base, versions, monkeypatch, setting, held
):
    """One loader: the same weight dtype and attention kernel wherever a version runs, so the endpoint's
    confidences are the ones its evaluation measured (eager and SDPA attention round apart in bf16)."""
    from serving.engine.embedded.runtime import ModelRuntime
    from training.engine.assessment import load_baseline
    from training.engine.inference import load_model_version

    monkeypatch.setenv("STUDIO_ML_DTYPE", setting)
    cpu = torch.device("cpu")
    models = {
        "served": ModelRuntime(tiny_base, cpu).base,
        "reloaded": load_model_version(versions["animals"], tiny_base, device="cpu").model.get_base_model(),
        "baseline": load_baseline(tiny_base, {"instructions": "Name the animal."}, device="cpu").model,
    }
    for name, model in models.items():
        base = {p.dtype for key, p in model.named_parameters() if "lora_" not in key}
        assert (base, model.config._attn_implementation) == ({held[0]}, held[1]), name
