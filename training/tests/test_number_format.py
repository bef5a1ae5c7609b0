"""The number format: bf16 autocast where the hardware runs it faster, fp32 elsewhere, STUDIO_ML_DTYPE
to force either; LoRA weights, optimizer state and loss stay fp32 (Django-free, tiny random Llama)."""

import json

import pytest
import torch

from training.engine import hardware
from training.engine.config import Hyperparameters
from training.engine.inference import Predictor, load_model_version
from training.tests.test_engine import ANIMALS, RecordingReporter, animal_rows, train

CPU = torch.device("cpu")


@pytest.fixture
def cpu_flags(monkeypatch):
    """Pretend this CPU reports the given /proc/cpuinfo flags."""

    def pretend(*flags):
        monkeypatch.setattr(hardware, "_cpu_flags", lambda: frozenset({"avx2", "fma", *flags}))

    return pretend


@pytest.mark.parametrize(
    ("flags", "setting", "expected"),
    [
        ((), "", None),  # AVX2 only: bf16 would be emulated, slower than fp32
        (("avx512_bf16",), "", torch.bfloat16),
        (("amx_bf16", "amx_tile"), "auto", torch.bfloat16),
        (("avx512_bf16",), "fp32", None),  # the operator's choice wins over detection
        ((), "bf16", torch.bfloat16),
        ((), " BF16 ", torch.bfloat16),
    ],
)
def test_cpus_with_native_bf16_get_autocast_and_the_environment_overrides(
    cpu_flags, monkeypatch, flags, setting, expected
):
    cpu_flags(*flags)
    monkeypatch.setenv(hardware.DTYPE_ENV, setting)
    assert hardware.autocast_dtype(CPU) == expected
    chosen_by = "detected" if setting.strip().lower() in ("", "auto") else "STUDIO_ML_DTYPE"
    assert hardware.number_format(CPU) == {
        "dtype": "bf16-autocast" if expected else "fp32",
        "dtype_chosen_by": chosen_by,
    }


def test_an_unknown_setting_is_a_plain_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(hardware.DTYPE_ENV, "fp8")
    with pytest.raises(ValueError, match="STUDIO_ML_DTYPE must be one of auto, bf16, fp32"):
        hardware.autocast_dtype(CPU)


def test_a_bf16_run_learns_keeps_trained_state_fp32_and_says_bf16(tiny_model, tmp_path, monkeypatch):
    from training.engine import runner

    monkeypatch.setenv(hardware.DTYPE_ENV, "bf16")
    trained = {}
    save_output = runner._Run.save_output

    def keep_run(self, metrics, step):
        trained["run"] = self
        return save_output(self, metrics, step)

    monkeypatch.setattr(runner._Run, "save_output", keep_run)
    kernels = {"training": set(), "answering": set()}
    train_step, evaluate = runner._Run.train_step, runner._Run.evaluate

    def noting_training(self, *args):
        kernels["training"].add(self.causal_lm().config._attn_implementation)
        return train_step(self, *args)

    def noting_answers(self):
        answer_loss_sum = self.answer_loss_sum

        def noting(*args, **kwargs):
            kernels["answering"].add(self.causal_lm().config._attn_implementation)
            return answer_loss_sum(*args, **kwargs)

        self.answer_loss_sum = noting
        try:
            return evaluate(self)
        finally:
            del self.answer_loss_sum

    monkeypatch.setattr(runner._Run, "train_step", noting_training)
    monkeypatch.setattr(runner._Run, "evaluate", noting_answers)
    reporter = RecordingReporter()
    hp = Hyperparameters(max_steps=60, learning_rate=2e-2, batch_size=8, lora_r=16, eval_interval_steps=30)
    result = train(tmp_path, tiny_model, animal_rows(16), hp, reporter, val_rows=animal_rows(2, seed=1))

    assert result.hardware["dtype"] == "bf16-autocast"
    assert result.hardware["dtype_chosen_by"] == "STUDIO_ML_DTYPE"
    assert sum(reporter.losses[-5:]) / 5 < 0.5 * sum(reporter.losses[:5]) / 5
    run = trained["run"]
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    frozen = [p for p in run.model.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    moments = [s["exp_avg"] for s in run.optimizer.state.values()]
    assert moments and all(m.dtype == torch.float32 for m in moments)
    # bf16 training on CPU attends eagerly (torch's CPU flash-attention kernel trains slower in bf16);
    # every answer, the run's own evaluation included, goes through SDPA as serving's do.
    assert kernels == {"training": {"eager"}, "answering": {"sdpa"}}
    assert run.causal_lm().config._attn_implementation == "sdpa" and not run.model.training

    # A reloaded version runs as training did (bf16 base, fp32 adapter) and answers like the trained one.
    reloaded = load_model_version(result.output_dir, tiny_model)
    lora = [p for name, p in reloaded.model.named_parameters() if "lora_" in name]
    assert lora and all(p.dtype == torch.float32 for p in lora)
    assert reloaded.model.get_base_model().config._attn_implementation == "sdpa"
    config = json.loads((result.output_dir / "training_config.json").read_text())
    in_memory = Predictor(run.model, run.tokenizer, config, CPU)
    inputs = ["it says meow", "it says woof so loud", "it says tweet", "woof"]
    expected = in_memory.classify(inputs, ANIMALS)
    answers = reloaded.classify(inputs)
    assert [label for label, _ in answers] == [label for label, _ in expected]
    assert [c for _, c in answers] == pytest.approx([c for _, c in expected], abs=1e-5)
    assert reloaded.generate(inputs, max_new_tokens=4) == in_memory.generate(inputs, max_new_tokens=4)

    merged = reloaded.merge_and_save(tmp_path / "merged")
    merged_config = json.loads((merged / "config.json").read_text())
    assert merged_config.get("dtype", merged_config.get("torch_dtype")) == "float32"


def test_fp32_forced_by_the_environment_on_a_bf16_cpu(tiny_model, tmp_path, monkeypatch, cpu_flags):
    cpu_flags("avx512_bf16", "amx_bf16")
    monkeypatch.setenv(hardware.DTYPE_ENV, "fp32")
    hp = Hyperparameters(max_steps=4, batch_size=8)
    result = train(tmp_path, tiny_model, animal_rows(4), hp, val_rows=[])
    assert result.hardware["dtype"] == "fp32" and result.hardware["dtype_chosen_by"] == "STUDIO_ML_DTYPE"
    reloaded = load_model_version(result.output_dir, tiny_model)
    assert {p.dtype for p in reloaded.model.parameters()} == {torch.float32}
