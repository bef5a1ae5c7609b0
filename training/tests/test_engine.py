"""Tests of the Django-free training engine (run with ``-p no:django``; no database is touched).

Fast tests use a tiny random Llama built in about a second; ``slow`` tests use the real SmolLM2
(both fixtures live in ``conftest.py``).
"""

import json
import random

import pytest
from pydantic import ValidationError

from training.engine.base_models import (
    BaseModelInvalid,
    ensure_cached,
    load_tokenizer,
    validate_hf_folder,
)
from training.engine.config import PRESETS, Hyperparameters, resolve_preset
from training.engine.data import (
    IGNORE_INDEX,
    LengthGroupedBatches,
    PromptFormat,
    collate,
    encode_rows,
)
from training.engine.errors import TrainingCancelled, TrainingFailed
from training.engine.runner import NullReporter, run_training

ANIMALS = ["cat", "dog", "bird"]
INSTRUCTIONS = "Name the animal."


def animal_rows(count_per_label: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    sounds = {"cat": "meow", "dog": "woof", "bird": "tweet"}
    rows = []
    for label in ANIMALS:
        for _ in range(count_per_label):
            filler = " ".join(
                rng.choice(["so", "very", "loud", "soft", "again"]) for _ in range(rng.randint(0, 6))
            )
            rows.append({"input": f"it says {sounds[label]} {filler}".strip(), "output": label})
    rng.shuffle(rows)
    return rows


class RecordingReporter(NullReporter):
    def __init__(self, stop_after_step: int | None = None):
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.evaluations: list[dict] = []
        self.events: list[str] = []
        self.checkpoints: list[int] = []
        self.stop_after_step = stop_after_step

    def progress(
        self, *, step, total_steps, epoch, train_loss, learning_rate, tokens_per_second, eta_seconds
    ):
        self.steps.append(step)
        self.losses.append(train_loss)

    def evaluation(self, *, step, val_loss, metrics):
        self.evaluations.append({"step": step, "val_loss": val_loss, **metrics})

    def event(self, level, message, data=None):
        self.events.append(message)

    def checkpoint(self, *, step, path):
        self.checkpoints.append(step)

    def should_stop(self):
        return (
            self.stop_after_step is not None and bool(self.steps) and self.steps[-1] >= self.stop_after_step
        )


def train(work_dir, base, rows, hp, reporter=None, val_rows=None, task_type="classification"):
    return run_training(
        work_dir=work_dir,
        base_model=base,
        train_rows=rows,
        val_rows=val_rows if val_rows is not None else rows[:6],
        instructions=INSTRUCTIONS,
        task_type=task_type,
        labels=ANIMALS if task_type == "classification" else None,
        hyperparameters=hp,
        reporter=reporter or RecordingReporter(),
    )


# -- data -------------------------------------------------------------------------------------------


def test_labels_mask_everything_but_the_answer_and_its_end_of_turn(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    [example] = encode_rows(fmt, [{"input": "it says woof", "output": "dog"}], max_seq_length=512)

    trained = [
        token for token, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE_INDEX
    ]
    assert tokenizer.decode(trained) == "dog<|im_end|>"
    first_answer = example.labels.index(trained[0])
    assert all(label == IGNORE_INDEX for label in example.labels[:first_answer])
    prompt = tokenizer.decode(example.input_ids[:first_answer])
    assert (
        prompt.endswith("<|im_start|>assistant\n")
        and "Name the animal." in prompt
        and "it says woof" in prompt
    )


def test_batches_are_padded_to_their_longest_example_and_grouped_by_length(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    rows = [{"input": "x" * length, "output": "cat"} for length in range(1, 200, 3)]
    examples = encode_rows(PromptFormat(tokenizer, INSTRUCTIONS), rows, max_seq_length=512)
    batcher = LengthGroupedBatches([len(example) for example in examples], batch_size=8, seed=3)

    widths, padding = [], 0
    for indices in batcher.plan(epoch=0):
        batch = collate([examples[i] for i in indices], tokenizer.pad_token_id)
        lengths = [len(examples[i]) for i in indices]
        assert batch.input_ids.shape[1] == max(lengths)  # dynamic, never a fixed length
        assert batch.real_tokens == sum(lengths) == int(batch.attention_mask.sum())
        widths.append(batch.input_ids.shape[1])
        padding += batch.input_ids.numel() - batch.real_tokens
    assert len(set(widths)) > 1
    assert padding < 0.1 * sum(len(example) for example in examples)
    assert sorted(i for b in batcher.plan(0) for i in b) == list(range(len(examples)))
    assert batcher.plan(0) == LengthGroupedBatches([len(e) for e in examples], 8, seed=3).plan(0)
    assert batcher.plan(0) != batcher.plan(1)


# -- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learning_rate", 0),
        ("batch_size", 0),
        ("lora_r", -1),
        ("lr_scheduler", "step"),
        ("warmup_ratio", 0.9),
    ],
)
def test_bad_hyperparameters_raise_naming_the_field(field, value):
    with pytest.raises(ValidationError) as error:
        Hyperparameters(**{field: value})
    assert field in str(error.value)


def test_presets_resolve_to_valid_hyperparameters():
    for name in PRESETS:
        hp = resolve_preset(name, n_train_examples=1500, device_type="cpu")
        assert hp.total_steps(batches_per_epoch=100) >= 1
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_preset("fastest", n_train_examples=10, device_type="cpu")


@pytest.mark.parametrize("n_train", [12, 30, 150, 199, 200, 1500])
def test_quick_is_quicker_than_balanced_and_thorough_more_thorough_at_every_size(n_train):
    steps = {
        name: resolve_preset(name, n_train_examples=n_train, device_type="cpu").total_steps(
            batches_per_epoch=max(1, -(-n_train // 16))
        )
        for name in ("quick", "balanced", "thorough")
    }
    assert steps["quick"] < steps["balanced"] < steps["thorough"], steps


# -- base models ------------------------------------------------------------------------------------


def test_validate_hf_folder_accepts_a_model_and_explains_what_is_missing(tiny_model, tmp_path):
    facts = validate_hf_folder(tiny_model)
    assert facts["architecture"] == "LlamaForCausalLM" and facts["parameter_count"] > 0
    with pytest.raises(BaseModelInvalid, match=r"config\.json"):
        validate_hf_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(BaseModelInvalid, match="tokenizer"):
        validate_hf_folder(tmp_path)


def test_ensure_cached_registers_a_local_folder(tiny_model, tmp_path):
    cached = ensure_cached(tiny_model, tmp_path / "cache")
    again = ensure_cached(tiny_model, tmp_path / "cache")
    assert cached == again and cached.path == tiny_model and len(cached.weights_checksum) == 64


# -- training ---------------------------------------------------------------------------------------


def test_loss_goes_down_and_artifacts_are_saved(tiny_model, tmp_path):
    hp = Hyperparameters(max_steps=40, learning_rate=2e-2, batch_size=8, lora_r=8, eval_interval_steps=20)
    reporter = RecordingReporter()
    result = train(tmp_path, tiny_model, animal_rows(16), hp, reporter)

    assert result.steps == 40 and reporter.steps[-1] == 40
    assert sum(reporter.losses[-5:]) / 5 < 0.5 * sum(reporter.losses[:5]) / 5
    assert [e["step"] for e in reporter.evaluations] == [20, 40]
    assert reporter.evaluations[-1]["val_loss"] < reporter.evaluations[0]["val_loss"]
    assert 0 <= result.metrics["accuracy"] <= 1 and "val_loss" in result.metrics
    names = {artifact["path"] for artifact in result.artifacts}
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "training_config.json",
        "tokenizer.json",
    } <= names
    assert all(len(artifact["sha256"]) == 64 and artifact["size"] > 0 for artifact in result.artifacts)
    assert result.trained_tokens > result.computed_tokens > 0  # the shared system prefix ran once per batch
    assert result.hardware["device"] in {"cpu", "cuda"} and result.peak_memory_bytes > 0


def _prefix_run(tiny_model, tmp_path, rows, **settings):
    import torch

    from training.engine import runner

    run = runner._Run(
        work_dir=tmp_path,
        base_model=tiny_model,
        train_rows=rows,
        val_rows=[],
        instructions=INSTRUCTIONS,
        task_type="classification",
        labels=ANIMALS,
        hp=Hyperparameters(max_steps=1, batch_size=8, lora_r=8, **settings),
        reporter=NullReporter(),
    )
    run.prepare()
    torch.manual_seed(1)
    for name, parameter in run.model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would hide the adapter from the loss
            torch.nn.init.normal_(parameter, std=0.1)
    return run


def _loss_and_grads(run, batch):
    loss = run.answer_loss_sum(batch)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in run.model.named_parameters() if p.requires_grad}
    run.model.zero_grad(set_to_none=True)
    return loss.item(), grads


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_a_packed_batch_trains_exactly_as_its_examples_run_whole(tiny_model, tmp_path, monkeypatch, dtype):
    """The shared system turn and every example's tokens run as one packed row: the loss and every adapted
    layer's gradient are those of the whole sequences, padded, run one per row."""
    from training.engine.packing import PackedBatch

    monkeypatch.setenv("STUDIO_ML_DTYPE", dtype)
    rows = animal_rows(3)  # examples of different lengths, so the rows are padded unpacked
    run = _prefix_run(tiny_model, tmp_path, rows)
    assert run.packed and run.prefix_length > 5
    packed = run.batch_of(run.train_examples)
    assert isinstance(packed, PackedBatch) and packed.input_ids.shape[0] == 1
    assert len({len(example) for example in run.train_examples}) > 1
    with run.autocast():
        packed_loss, packed_grads = _loss_and_grads(run, packed)

    run.packed = False  # the same examples whole: prefix put back, padded to the longest
    whole = run.batch_of(encode_rows(run.format, rows, 512))
    with run.autocast():
        whole_loss, whole_grads = _loss_and_grads(run, whole)

    tolerance = 1e-5 if dtype == "fp32" else 2e-2
    assert packed_loss == pytest.approx(whole_loss, rel=tolerance)
    assert packed_grads.keys() == whole_grads.keys() and len(packed_grads) > 0
    for name, grad in whole_grads.items():
        assert grad.abs().sum() > 0, name  # every adapted layer learns, the prefix's passes included
        scale = grad.abs().max()
        assert (packed_grads[name] - grad).abs().max() / scale < tolerance * 5, name


def test_embedding_noise_changes_training_passes_and_never_an_evaluation(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_ML_DTYPE", "fp32")
    run = _prefix_run(tiny_model, tmp_path, animal_rows(2), embedding_noise=5.0)
    batch = run.batch_of(run.train_examples)
    run.model.train()
    first, second = run.answer_loss_sum(batch).item(), run.answer_loss_sum(batch).item()
    run.model.eval()
    clean = run.answer_loss_sum(batch).item()
    assert first != second and clean not in (first, second)
    assert run.answer_loss_sum(batch).item() == clean


def test_label_smoothing_keeps_answers_short_of_certainty_and_validation_loss_plain(tiny_model, tmp_path):
    rows = animal_rows(16)
    results = {}
    for smoothing in (0.0, 0.3):
        hp = Hyperparameters(
            max_steps=40,
            learning_rate=2e-2,
            batch_size=8,
            lora_r=8,
            eval_interval_steps=40,
            label_smoothing=smoothing,
        )
        results[smoothing] = train(tmp_path / str(smoothing), tiny_model, rows, hp, val_rows=rows[:6])
    plain, smoothed = results[0.0].metrics, results[0.3].metrics
    assert min(plain["accuracy"], smoothed["accuracy"]) > 1 / len(ANIMALS)  # both learn (chance: a third)
    # A third of each target spread over the vocabulary: the model stays less sure of its right answers...
    assert smoothed["val_loss"] > 2 * plain["val_loss"]
    # ...and validation reports the plain cross-entropy, far below the smoothed loss the optimiser saw.
    assert smoothed["val_loss"] < smoothed["train_loss"] / 2


def test_full_fine_tuning_of_a_tiny_model(tiny_model, tmp_path):
    hp = Hyperparameters(method="full", max_steps=10, learning_rate=1e-3, batch_size=8)
    result = train(tmp_path, tiny_model, animal_rows(8), hp, val_rows=[])
    assert result.steps == 10 and (result.output_dir / "model.safetensors").is_file()


def test_cancel_stops_within_one_step(tiny_model, tmp_path):
    hp = Hyperparameters(max_steps=50, batch_size=4, checkpoint_interval_steps=100)
    reporter = RecordingReporter(stop_after_step=3)
    with pytest.raises(TrainingCancelled):
        train(tmp_path, tiny_model, animal_rows(8), hp, reporter)
    assert reporter.steps[-1] == 3
    assert not (tmp_path / "output").exists()


def test_resume_from_checkpoint_finishes_with_the_same_step_count(tiny_model, tmp_path):
    rows = animal_rows(10)
    hp = Hyperparameters(max_steps=12, batch_size=4, learning_rate=3e-3, checkpoint_interval_steps=4)
    uninterrupted = train(tmp_path / "a", tiny_model, rows, hp, val_rows=[])

    killed = RecordingReporter(stop_after_step=6)  # dies after the step-4 checkpoint, like a SIGKILL
    with pytest.raises(TrainingCancelled):
        train(tmp_path / "b", tiny_model, rows, hp, killed, val_rows=[])
    assert killed.checkpoints == [4]

    resumed_reporter = RecordingReporter()
    resumed = train(tmp_path / "b", tiny_model, rows, hp, resumed_reporter, val_rows=[])
    assert "resumed from checkpoint at step 4" in resumed_reporter.events
    assert resumed_reporter.steps[0] == 5
    assert resumed.steps == uninterrupted.steps == 12
    assert resumed.trained_tokens == uninterrupted.trained_tokens
    assert resumed.metrics["train_loss"] == pytest.approx(uninterrupted.metrics["train_loss"], rel=1e-4)
    assert len(list((tmp_path / "b" / "checkpoints").iterdir())) <= 2


def test_checkpoint_of_another_configuration_is_not_resumed(tiny_model, tmp_path):
    rows = animal_rows(6)
    first = Hyperparameters(max_steps=4, batch_size=4, checkpoint_interval_steps=2)
    with pytest.raises(TrainingCancelled):
        train(tmp_path, tiny_model, rows, first, RecordingReporter(stop_after_step=3), val_rows=[])
    reporter = RecordingReporter()
    result = train(tmp_path, tiny_model, rows, first.model_copy(update={"learning_rate": 1e-3}), reporter, [])
    assert result.steps == 4 and reporter.steps[0] == 1
    assert any("different configuration" in message for message in reporter.events)


def test_known_failures_are_plain(tiny_model, tmp_path):
    with pytest.raises(TrainingFailed) as error:
        train(tmp_path, tiny_model, [], Hyperparameters(max_steps=1))
    assert error.value.reason_plain == "The training set is empty"
    with pytest.raises(TrainingFailed) as error:
        train(tmp_path, tmp_path / "nowhere", animal_rows(2), Hyperparameters(max_steps=1))
    assert "base model" in error.value.reason_plain


def test_out_of_memory_is_mapped_to_a_plain_reason(tiny_model, tmp_path, monkeypatch):
    from training.engine import runner

    def explode(self, batch, **options):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")

    monkeypatch.setattr(runner._Run, "answer_loss_sum", explode)
    with pytest.raises(TrainingFailed) as error:
        train(tmp_path, tiny_model, animal_rows(2), Hyperparameters(max_steps=1))
    assert error.value.reason_plain == "Out of memory"
    assert error.value.hint == "lower the batch size or the max sequence length"


def test_extraction_and_generation_tasks_train_and_evaluate(tiny_model, tmp_path):
    rows = [{"input": f"table for {n}", "output": json.dumps({"people": n})} for n in range(2, 12)]
    hp = Hyperparameters(max_steps=4, batch_size=4, eval_interval_steps=4)
    result = train(tmp_path / "x", tiny_model, rows, hp, val_rows=rows[:3], task_type="extraction")
    assert 0 <= result.metrics["exact_match"] <= 1
    result = train(tmp_path / "g", tiny_model, rows, hp, val_rows=rows[:3], task_type="generation")
    assert "accuracy" not in result.metrics and result.metrics["val_loss"] > 0


# -- inference --------------------------------------------------------------------------------------


def test_reloaded_version_gives_identical_answers(tiny_model, tmp_path, monkeypatch):
    import torch

    from training.engine import runner
    from training.engine.inference import Predictor, load_model_version

    trained = {}
    save_output = runner._Run.save_output

    def keep_model(self, metrics, step):
        trained["model"], trained["tokenizer"] = self.model, self.tokenizer
        return save_output(self, metrics, step)

    monkeypatch.setattr(runner._Run, "save_output", keep_model)
    hp = Hyperparameters(max_steps=60, learning_rate=2e-2, batch_size=8, lora_r=16)
    result = train(tmp_path, tiny_model, animal_rows(16), hp, val_rows=[])
    config = json.loads((result.output_dir / "training_config.json").read_text())
    in_memory = Predictor(trained["model"], trained["tokenizer"], config, torch.device("cpu"))
    inputs = ["it says meow", "it says woof so loud", "it says tweet", "woof"]
    generated, classified = in_memory.generate(inputs, max_new_tokens=6), in_memory.classify(inputs, ANIMALS)

    reloaded = load_model_version(result.output_dir, tiny_model)
    assert reloaded.generate(inputs, max_new_tokens=6) == generated
    again = reloaded.classify(inputs)  # the label set is read from the saved training config
    assert [label for label, _ in again] == [label for label, _ in classified]
    assert [conf for _, conf in again] == pytest.approx([conf for _, conf in classified], abs=1e-5)
    assert all(label in ANIMALS and 0 < confidence <= 1 for label, confidence in again)
    assert len({round(confidence, 6) for _, confidence in again}) > 1  # the answers depend on the input

    merged = reloaded.merge_and_save(tmp_path / "merged")
    assert (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()


# -- the real SmolLM2 (slow) ------------------------------------------------------------------------


def review_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    things = [
        "pizza",
        "hotel room",
        "film",
        "phone",
        "service",
        "coffee",
        "book",
        "concert",
        "shoes",
        "flight",
    ]
    good = ["I loved the {}", "the {} was wonderful", "what a great {}", "the {} made my day"]
    bad = ["I hated the {}", "the {} was awful", "what a terrible {}", "the {} ruined my day"]
    rows = []
    for index in range(count):
        label = "positive" if index % 2 == 0 else "negative"
        template = rng.choice(good if label == "positive" else bad)
        rows.append({"input": template.format(rng.choice(things)), "output": label})
    return rows


@pytest.mark.slow
def test_smollm2_converts_once_and_is_reused_from_the_cache(smollm2, model_cache):
    """The GGUF file becomes Hugging Face weights once; learning and reloading on SmolLM2 are proven end to
    end through a worker in tests/test_smollm2_e2e.py."""
    import time

    cached, _first_seconds = smollm2
    started = time.perf_counter()
    assert ensure_cached(None, model_cache) == cached
    assert time.perf_counter() - started < 1.0  # converted once per cache, later calls return at once
    assert cached.architecture == "LlamaForCausalLM" and 130e6 < cached.parameter_count < 140e6
    assert cached.context_length == 8192 and len(cached.source_checksum) == len(cached.weights_checksum) == 64
    assert (
        json.loads((cached.path / "checksum.json").read_text())["weights_checksum"] == cached.weights_checksum
    )
