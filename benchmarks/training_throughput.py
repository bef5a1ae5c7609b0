"""Throughput benchmark: the engine in fp32 and in bf16 autocast, and a naive ``Trainer`` script, in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/training_throughput.py
    .venv/bin/python benchmarks/training_throughput.py --engine-batches 16 --engine-steps 3 \
        --skip-naive --skip-load  # smoke

Both fine-tune SmolLM2-135M-Instruct (the cached conversion) with the same LoRA adapter (r=16 on all
linear layers) on examples of the same clinc150 training set rendered with the same chat template.
The naive script pads every example to 512 tokens and computes the loss over the whole sequence, as a
first script usually does; the engine batches by length with dynamic padding, trains on answer tokens
only (logits only where there is a label) and runs the shared system-prompt prefix once per batch.

Figures printed side by side:
- real tokens/s: non-padding tokens of the examples trained per second of optimizer steps, for the engine
  in fp32 and in bf16 autocast (``STUDIO_ML_DTYPE``; target: bf16 >= 2.5x fp32) and the naive script;
- the machine's fp32 and bf16 matmul FLOP/s measured in the same run, and the engine's achieved training
  FLOP/s in each format against its own format's rate (target: bf16 >= 50% of bf16 matmul), counted as
  4 x parameters x tokens computed per second (LoRA: forward 2 + input-gradient backward 2 FLOPs per
  parameter per token; the frozen weights get no weight gradient), where tokens computed counts the
  shared prefix once per batch, not once per example;
- first GGUF conversion vs cached base-model load (each in a fresh subprocess, imports excluded);
- peak training memory (process peak RSS on CPU, max allocated on CUDA).
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

# The real data beside the checkout (../shared/data); not part of the project.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DTYPE_ENV = "STUDIO_ML_DTYPE"
INSTRUCTIONS = "Classify the user's request into its intent label."
NAIVE_LENGTH = 512

LOAD_PROBE = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch, transformers  # imports are not part of the timing
from training.engine.base_models import ensure_cached, load_causal_lm, load_tokenizer
started = time.perf_counter()
cached = ensure_cached(None, {cache!r})
converted = time.perf_counter()
model = load_causal_lm(cached.path)
tokenizer = load_tokenizer(cached.path)
loaded = time.perf_counter()
print(json.dumps({{"ensure_cached": converted - started, "total": loaded - started}}))
"""


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def probe_load(cache: Path) -> dict:
    code = LOAD_PROBE.format(root=str(ROOT), cache=str(cache))
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def engine_run(cached, rows: list[dict], batch_size: int, steps: int) -> dict:
    from training.engine.config import Hyperparameters
    from training.engine.runner import NullReporter, run_training

    hp = Hyperparameters(
        max_steps=steps,
        batch_size=batch_size,
        learning_rate=1e-3,
        lora_r=16,
        lora_alpha=32,
        checkpoint_interval_steps=10_000,
    )
    with tempfile.TemporaryDirectory() as work:
        result = run_training(
            work_dir=Path(work),
            base_model=cached,
            train_rows=rows,
            val_rows=[],
            instructions=INSTRUCTIONS,
            task_type="classification",
            labels=sorted({row["output"] for row in rows}),
            hyperparameters=hp,
            reporter=NullReporter(),
        )
    return {
        "batch_size": batch_size,
        "steps": result.steps,
        "real_tokens": result.trained_tokens,
        "computed_tokens": result.computed_tokens,
        "seconds": result.train_seconds,
        "tokens_per_second": result.trained_tokens / result.train_seconds,
        "computed_per_second": result.computed_tokens / result.train_seconds,
        "peak_memory": result.peak_memory_bytes,
    }


def naive_run(cached, rows: list[dict], batch_size: int, steps: int) -> dict:
    """What a first script does: pad to 512, loss on every token, HF Trainer defaults."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(cached.path)
    model = AutoModelForCausalLM.from_pretrained(cached.path, dtype=torch.float32)
    model = get_peft_model(
        model, LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules="all-linear")
    )
    examples = rows[: batch_size * steps]
    dataset, real_tokens = [], 0
    for row in examples:
        messages = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": row["input"]},
            {"role": "assistant", "content": row["output"]},
        ]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        encoded = tokenizer(text, padding="max_length", max_length=NAIVE_LENGTH, truncation=True)
        labels = [
            t if m else -100 for t, m in zip(encoded["input_ids"], encoded["attention_mask"], strict=True)
        ]
        real_tokens += sum(encoded["attention_mask"])
        dataset.append({**encoded, "labels": labels})

    with tempfile.TemporaryDirectory() as work:
        args = TrainingArguments(
            output_dir=work,
            per_device_train_batch_size=batch_size,
            max_steps=steps,
            learning_rate=1e-3,
            logging_strategy="no",
            save_strategy="no",
            report_to=[],
            use_cpu=not torch.cuda.is_available(),
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset)
        output = trainer.train()
    seconds = output.metrics["train_runtime"]
    return {
        "batch_size": batch_size,
        "steps": steps,
        "real_tokens": real_tokens,
        "computed_tokens": len(examples) * NAIVE_LENGTH,
        "seconds": seconds,
        "tokens_per_second": real_tokens / seconds,
        "computed_per_second": len(examples) * NAIVE_LENGTH / seconds,
    }


def engine_runs_in(dtype: str, cached, rows, batches: list[int], steps: int) -> list[dict]:
    """The engine at each batch size with ``STUDIO_ML_DTYPE`` set to ``dtype`` (read at each run's start)."""
    os.environ[DTYPE_ENV] = dtype
    try:
        # Enough different examples for every step: length grouping works on the real distribution.
        return [{**engine_run(cached, rows, batch, steps), "dtype": dtype} for batch in batches]
    finally:
        os.environ.pop(DTYPE_ENV, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "clinc150" / "train_small.jsonl")
    parser.add_argument("--engine-steps", type=int, default=20)
    parser.add_argument("--naive-steps", type=int, default=3)
    parser.add_argument("--engine-batches", default="16,32,64")
    parser.add_argument("--naive-batches", default="4,8")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive Trainer runs")
    parser.add_argument("--skip-load", action="store_true", help="leave out the GGUF conversion timing")
    parser.add_argument(
        "--emulated-bf16-steps",
        type=int,
        default=3,
        help="bf16 steps (first batch size only) where the CPU has no native bf16: it is ~10x slower there",
    )
    args = parser.parse_args()

    from training.engine.base_models import ensure_cached
    from training.engine.hardware import cpu_has_fast_bf16, detect, measure_matmul_flops

    hardware = detect()
    rows = read_jsonl(args.data)
    random.Random(0).shuffle(rows)

    if not args.skip_load:
        with tempfile.TemporaryDirectory() as fresh_cache:
            first = probe_load(Path(fresh_cache))  # converts the GGUF (nothing cached yet)
            cached_load = probe_load(Path(fresh_cache))  # the same call once the conversion is cached
    cache_dir = Path(os.environ.get("STUDIO_MODEL_CACHE", "/tmp/slm-model-cache"))
    cached = ensure_cached(None, cache_dir)

    import torch

    matmul = {
        "fp32": measure_matmul_flops(seconds=3),
        "bf16": measure_matmul_flops(seconds=3, dtype=torch.bfloat16),
    }
    batches = [int(b) for b in args.engine_batches.split(",")]
    native_bf16 = hardware["device"] == "cuda" or cpu_has_fast_bf16()
    runs = {
        "fp32": engine_runs_in("fp32", cached, rows, batches, args.engine_steps),
        "bf16": engine_runs_in("bf16", cached, rows, batches, args.engine_steps)
        if native_bf16
        else engine_runs_in("bf16", cached, rows, batches[:1], args.emulated_bf16_steps),
    }
    peak_engine = max(run["peak_memory"] for dtype_runs in runs.values() for run in dtype_runs)
    naive_runs = []
    if not args.skip_naive:
        naive_runs = [
            naive_run(cached, rows, b, args.naive_steps) for b in map(int, args.naive_batches.split(","))
        ]
    peak_after_naive = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    best = {
        dtype: max(dtype_runs, key=lambda run: run["tokens_per_second"]) for dtype, dtype_runs in runs.items()
    }
    naive = max(naive_runs, key=lambda run: run["tokens_per_second"]) if naive_runs else None
    params = cached.parameter_count
    achieved = {dtype: 4 * params * run["computed_per_second"] for dtype, run in best.items()}

    native = (
        "native bf16 (AVX512-BF16/AMX)" if native_bf16 else "no native bf16: emulated, so auto picks fp32"
    )
    if hardware["device"] == "cuda":
        native = "CUDA"
    print(f"device: {hardware['device']} ({hardware['name']}, {hardware['threads']} threads; {native})")
    print(f"model: {cached.key}, {params:,} parameters; LoRA r=16 on all linear layers for all runs")
    print(f"load average at the end of the runs: {os.getloadavg()[0]:.2f}")
    print()
    for dtype_runs in (*runs.values(), naive_runs):
        for run in dtype_runs:
            label = f"engine {run['dtype']}" if "dtype" in run else "naive fp32"
            print(
                f"  {label:<11} batch {run['batch_size']:<3} {run['steps']} steps: {run['real_tokens']:>7,} "
                f"real tokens in {run['seconds']:6.1f} s = {run['tokens_per_second']:7.1f} real tok/s"
            )
    print()
    print(f"{'':<34}{'engine fp32':>14}{'engine bf16':>14}{'naive Trainer':>16}")

    def side_by_side(name: str, key: str, form: str = ">14.1f") -> None:
        naive_cell = format(naive[key], form.replace("14", "16")) if naive else f"{'-':>16}"
        print(f"{name:<34}{format(best['fp32'][key], form)}{format(best['bf16'][key], form)}{naive_cell}")

    side_by_side("best batch size", "batch_size", ">14")
    side_by_side("real (non-padding) tokens/s", "tokens_per_second")
    side_by_side("tokens computed/s", "computed_per_second")
    print(
        f"{'matmul rate (1024^3, measured)':<34}{matmul['fp32'] / 1e9:>14.1f}{matmul['bf16'] / 1e9:>14.1f}"
        "   GFLOP/s"
    )
    print(f"{'training FLOP/s':<34}{achieved['fp32'] / 1e9:>14.1f}{achieved['bf16'] / 1e9:>14.1f}   GFLOP/s")
    print(
        f"{'  of the same format matmul':<34}{achieved['fp32'] / matmul['fp32']:>14.0%}"
        f"{achieved['bf16'] / matmul['bf16']:>14.0%}"
    )
    print("  counted as 4 x parameters x tokens computed/s (prefix once per batch, padding excluded)")
    print()
    speedup = best["bf16"]["tokens_per_second"] / best["fp32"]["tokens_per_second"]
    share = achieved["bf16"] / matmul["bf16"]
    print(f"{'bf16 / fp32, real tokens/s':<34}{speedup:>14.2f}x   (target >= 2.5x: {_met(speedup >= 2.5)})")
    verdict = _met(share >= 0.5) if native_bf16 else "not applicable: bf16 is emulated on this CPU"
    print(f"{'bf16 training vs bf16 matmul':<34}{share:>14.0%}    (target >= 50%: {verdict})")
    print(f"{'bf16 / fp32 matmul':<34}{matmul['bf16'] / matmul['fp32']:>14.2f}x")
    if naive:
        fastest = max(best.values(), key=lambda run: run["tokens_per_second"])
        ratio = fastest["tokens_per_second"] / naive["tokens_per_second"]
        print(f"{'engine (faster format) / naive':<34}{ratio:>14.1f}x   (target >= 20x: {_met(ratio >= 20)})")
    print()
    if not args.skip_load:
        print(f"{'first load (GGUF conversion)':<34}{first['total']:>14.1f} s")
        print(f"{'cached load (ensure_cached+load)':<34}{cached_load['total']:>14.2f} s   (target <= 3 s)")
    print(f"{'peak memory, engine runs':<34}{peak_engine / 2**30:>14.2f} GiB (process peak RSS)")
    if naive:
        print(
            f"{'peak memory, after naive runs':<34}{peak_after_naive / 2**30:>14.2f} GiB (process peak RSS)"
        )


def _met(condition: bool) -> str:
    return "MET" if condition else "NOT MET"


if __name__ == "__main__":
    main()
