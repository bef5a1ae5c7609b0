"""Shared-host benchmark (issue 9): a training job alone vs next to a prediction load on the same host.

    .venv/bin/python benchmarks/shared_host.py [--steps 20] [--predict-seconds 60] [--compare]
    .venv/bin/python benchmarks/shared_host.py --model tiny --steps 6 --predict-seconds 10   # smoke

Each workload runs in its own process, as a training worker and an evaluation worker would:
- training: LoRA (r=16, all linear layers, batch 16) on clinc150/train_small.jsonl for ``--steps``
  optimizer steps; its figure is real (non-padding) tokens per second of optimizer steps;
- prediction load: label scoring (151 intents) of clinc150/test_small.jsonl texts in batches of 16,
  over and over; its figure is texts per second.
Phases: training alone, the prediction load alone, both at once (the load starts first and runs until
the training ends), training alone again (its solo figure is the mean of both lone runs, so a change in
the host's other load weighs on both sides; "cores the training process got" is what the OS gave it).
Run as the studio runs them (each process claims its share of the host's cores in one folder and idle
OpenMP threads sleep: ``training/engine/cores.py``) and, with ``--compare``, as before the core budget
(every process takes every core, OpenMP's default waits), side by side.
Target: training next to the prediction load keeps >= 45% of its solo throughput.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
INSTRUCTIONS = "Classify the user's request into its intent label."
TARGET = 0.45


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_engine(budget: bool):
    """Import torch and the engine as a worker would; without the budget, torch loads before the
    engine can bound OpenMP's spinning, so OpenMP keeps its default waits."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    if not budget:
        os.environ.pop("OMP_WAIT_POLICY", None)
        os.environ.pop("GOMP_SPINCOUNT", None)
        import torch  # noqa: F401 - loads OpenMP before training.engine bounds its spinning
    from training.engine import cores

    return cores


def base_model(args) -> Path:
    from training.engine.base_models import ensure_cached

    if args.model == "smollm2":
        return ensure_cached(None, args.cache).path
    from training.engine.tiny import build_tiny_llama

    folder = Path(args.workdir) / "tiny-model"
    if not (folder / "config.json").exists():
        build_tiny_llama(folder, vocab_from=None, hidden_size=256, num_layers=4)
    return folder


# -- the two workloads (child processes) ----------------------------------------------------------------


def role_train(args) -> dict:
    cores = load_engine(args.budget)
    from training.engine.config import Hyperparameters
    from training.engine.runner import NullReporter, run_training

    class Clock(NullReporter):
        def __init__(self):
            self.times: list[float] = []
            self.cpu: list[float] = []

        def progress(self, **kwargs):
            self.times.append(time.time())
            self.cpu.append(time.process_time())

    rows = read_jsonl(args.data / "train_small.jsonl")
    hp = Hyperparameters(
        max_steps=args.steps, batch_size=16, learning_rate=1e-3, lora_r=16, checkpoint_interval_steps=10**6
    )
    clock = Clock()
    folder = Path(args.workdir) / "cores" if args.budget else None
    with cores.claim(folder, "training"), tempfile.TemporaryDirectory() as work:
        result = run_training(
            work_dir=Path(work),
            base_model=base_model(args),
            train_rows=rows,
            val_rows=[],
            instructions=INSTRUCTIONS,
            task_type="classification",
            labels=sorted({row["output"] for row in rows}),
            hyperparameters=hp,
            reporter=clock,
        )
    return {
        "tokens_per_second": result.trained_tokens / result.train_seconds,
        "seconds": result.train_seconds,
        "threads": result.hardware["threads"],
        "window": [clock.times[0], clock.times[-1]],
        # Cores the process actually got from the host's scheduler over the steps after the first.
        "cores_used": (clock.cpu[-1] - clock.cpu[0]) / max(clock.times[-1] - clock.times[0], 1e-9),
    }


def role_predict(args) -> dict:
    cores = load_engine(args.budget)
    import torch

    from training.engine.base_models import load_engine_model, load_tokenizer
    from training.engine.hardware import configure, pick_device
    from training.engine.inference import Predictor

    texts = [row["input"] for row in read_jsonl(args.data / "test_small.jsonl")]
    labels = sorted({row["output"] for row in read_jsonl(args.data / "train_small.jsonl")})
    stop = Path(args.workdir) / "stop"
    folder = Path(args.workdir) / "cores" if args.budget else None
    batches: list[tuple[float, float, int]] = []  # (started, ended, texts)
    with cores.claim(folder, "evaluation"):
        device = pick_device()
        configure(device)
        path = base_model(args)
        model = load_engine_model(path, device)
        config = {"instructions": INSTRUCTIONS, "labels": labels}
        predictor = Predictor(model, load_tokenizer(path), config, device)
        predictor.classify(texts[:16])  # warm-up
        print("ready", flush=True)
        deadline = time.time() + args.predict_seconds if args.predict_seconds else None
        position = 0
        with torch.no_grad():
            while len(batches) < 2 or not (stop.exists() or (deadline and time.time() >= deadline)):
                batch = [texts[(position + i) % len(texts)] for i in range(16)]
                position += 16
                started = time.time()
                predictor.classify(batch)
                batches.append((started, time.time(), len(batch)))
        threads = torch.get_num_threads()
    return {"batches": batches, "threads": threads}


# -- the phases (parent) ---------------------------------------------------------------------------------


def child(args, role: str, budget: bool, **extra) -> subprocess.Popen:
    command = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--model",
        args.model,
        "--steps",
        str(args.steps),
        "--data",
        str(args.data),
        "--cache",
        str(args.cache),
        "--workdir",
        str(args.workdir),
        "--predict-seconds",
        str(extra.get("predict_seconds", 0)),
    ]
    if budget:
        command.append("--budget")
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def result_of(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a benchmark process failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def rate_between(batches, start: float, end: float) -> float:
    """Texts per second between ``start`` and ``end``; a batch that straddles an edge counts for the
    part of its time inside."""
    texts = 0.0
    for began, ended, count in batches:
        inside = min(ended, end) - max(began, start)
        if inside > 0:
            texts += count * inside / (ended - began)
    return texts / max(end - start, 1e-9)


def phases(args, budget: bool) -> dict:
    stop = Path(args.workdir) / "stop"
    stop.unlink(missing_ok=True)
    train_before = result_of(child(args, "train", budget))

    predictor = child(args, "predict", budget, predict_seconds=args.predict_seconds)
    assert predictor.stdout.readline().strip() == "ready"
    predict_alone = result_of(predictor)
    batches = predict_alone["batches"]
    predict_alone_rate = rate_between(batches, batches[0][0], batches[-1][1])

    predictor = child(args, "predict", budget)
    assert predictor.stdout.readline().strip() == "ready"
    train_together = result_of(child(args, "train", budget))
    stop.touch()
    predict_together = result_of(predictor)
    stop.unlink()
    # Alone once before and once after, so a change in the host's other load weighs on both sides.
    train_after = result_of(child(args, "train", budget))
    train_alone = {
        **train_before,
        **{key: (train_before[key] + train_after[key]) / 2 for key in ("tokens_per_second", "cores_used")},
    }
    return {
        "train_alone": train_alone,
        "train_together": train_together,
        "predict_alone_rate": predict_alone_rate,
        "predict_alone_threads": predict_alone["threads"],
        "predict_together_rate": rate_between(predict_together["batches"], *train_together["window"]),
        "predict_together_threads": predict_together["threads"],
    }


def report(name: str, figures: dict) -> None:
    solo, together = figures["train_alone"], figures["train_together"]
    ratio = together["tokens_per_second"] / solo["tokens_per_second"]
    p_ratio = figures["predict_together_rate"] / figures["predict_alone_rate"]
    print(f"\n{name}")
    print(f"  {'':34}{'alone':>14}{'together':>14}{'ratio':>10}")
    print(
        f"  {'training, real tokens/s':34}{solo['tokens_per_second']:>14.1f}"
        f"{together['tokens_per_second']:>14.1f}{ratio:>9.0%}"
        f"   (target >= {TARGET:.0%}: {'MET' if ratio >= TARGET else 'NOT MET'})"
    )
    print(
        f"  {'prediction load, texts/s':34}{figures['predict_alone_rate']:>14.2f}"
        f"{figures['predict_together_rate']:>14.2f}{p_ratio:>9.0%}"
    )
    print(
        f"  {'torch threads (training/prediction)':34}"
        f"{solo['threads']:>7} / {figures['predict_alone_threads']:<4}"
        f"{together['threads']:>7} / {figures['predict_together_threads']:<4}"
    )
    print(f"  {'combined share of solo throughput':34}{'':28}{ratio + p_ratio:>9.0%}")
    print(
        f"  {'cores the training process got':34}{solo['cores_used']:>14.2f}{together['cores_used']:>14.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["train", "predict"])
    parser.add_argument("--budget", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--steps", type=int, default=20, help="training steps per run (at least 2)")
    parser.add_argument("--predict-seconds", type=float, default=60, help="length of the lone prediction run")
    parser.add_argument("--compare", action="store_true", help="also run without the core budget")
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "clinc150")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", ROOT / "var" / "model-cache"))
    )
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    if args.role:
        figures = role_train(args) if args.role == "train" else role_predict(args)
        print(json.dumps(figures), flush=True)
        return

    with tempfile.TemporaryDirectory() as workdir:
        args.workdir = Path(workdir)
        if args.model == "smollm2":
            load_engine(True)
            base_model(args)  # convert once, before anything is timed
        print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
        print(
            f"model: {args.model}; training {args.steps} steps; "
            f"lone prediction run {args.predict_seconds:g} s"
        )
        report("with the core budget (the studio's setting)", phases(args, budget=True))
        if args.compare:
            report("without it (every process takes every core, OpenMP default waits)", phases(args, False))
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
