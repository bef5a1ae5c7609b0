"""Quality benchmark: the `balanced` preset on clinc150 (151 intents), accuracy on the held-out test set.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/training_quality.py [--data ../shared/data/clinc150]

Trains on train_small.jsonl (10 examples per intent), evaluates on test_small.jsonl (3 per intent, never
seen in training nor used to choose anything but the preset), and prints accuracy and wall time
(training + evaluation). Target: accuracy >= 0.85 within 15 minutes on a 2-core CPU.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The real data beside the checkout (../shared/data); not part of the project.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.engine.base_models import ensure_cached
from training.engine.config import resolve_preset
from training.engine.data import PromptFormat
from training.engine.hardware import detect
from training.engine.inference import LabelTrie, load_model_version, predict_labels, score_labels
from training.engine.runner import NullReporter, run_training

INSTRUCTIONS = "Classify the user's request into its intent label."


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


class PrintReporter(NullReporter):
    def __init__(self):
        self.last = 0.0

    def progress(
        self, *, step, total_steps, epoch, train_loss, learning_rate, tokens_per_second, eta_seconds
    ):
        if time.perf_counter() - self.last > 30 or step == total_steps:
            self.last = time.perf_counter()
            print(
                f"  step {step}/{total_steps} epoch {epoch:.2f} loss {train_loss:.3f} lr {learning_rate:.2e} "
                f"{tokens_per_second:.0f} tok/s eta {eta_seconds:.0f}s",
                flush=True,
            )

    def event(self, level, message, data=None):
        print(f"  [{level}] {message}", flush=True)


def train_adapter(
    cached, rows: list[dict], hp, work_dir: Path, *, instructions: str, task_type: str, labels=None
):
    """``run_training`` as the benchmarks call it: no validation split, progress printed."""
    return run_training(
        work_dir=work_dir,
        base_model=cached,
        train_rows=rows,
        val_rows=[],
        instructions=instructions,
        task_type=task_type,
        labels=labels,
        hyperparameters=hp,
        reporter=PrintReporter(),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "clinc150")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", "/tmp/slm-model-cache"))
    )
    parser.add_argument("--set", action="append", default=[], help="override a hyperparameter: name=value")
    parser.add_argument("--keep", type=Path, help="keep the trained adapter in this folder")
    parser.add_argument(
        "--scoring",
        choices=["greedy", "full"],
        default="greedy",
        help="label-constrained greedy decoding, or full scoring of the likeliest labels",
    )
    args = parser.parse_args()

    train = read_jsonl(args.data / "train_small.jsonl")
    test = read_jsonl(args.data / "test_small.jsonl")
    labels = sorted({row["output"] for row in train})
    cached = ensure_cached(None, args.cache)
    hardware = detect()
    hp = resolve_preset(args.preset, n_train_examples=len(train), device_type=hardware["device"])
    if args.set:
        overrides = dict(item.split("=", 1) for item in args.set)
        hp = hp.model_validate({**hp.model_dump(), **{k: json.loads(v) for k, v in overrides.items()}})
    print(f"device: {hardware['device']} ({hardware['name']}, {hardware['threads']} threads)")
    print(f"data: {len(train)} train / {len(test)} test rows, {len(labels)} labels")
    print(f"preset {args.preset}: {hp.model_dump_json()}")

    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        result = train_adapter(
            cached,
            train,
            hp,
            Path(work),
            instructions=INSTRUCTIONS,
            task_type="classification",
            labels=labels,
        )
        trained = time.perf_counter()
        predictor = load_model_version(result.output_dir, cached)
        fmt = PromptFormat(predictor.tokenizer, INSTRUCTIONS)
        trie = LabelTrie({label: fmt.answer_ids(label) for label in labels})
        if args.scoring == "greedy":
            predicted = predict_labels(
                predictor.model, fmt, [row["input"] for row in test], trie, batch_size=32
            )
        else:
            predicted = [
                max(scores, key=scores.get)
                for scores in (score_labels(predictor.model, fmt, row["input"], trie) for row in test)
            ]
        finished = time.perf_counter()
        if args.keep:
            shutil.copytree(result.output_dir, args.keep, dirs_exist_ok=True)

    accuracy = sum(p == row["output"] for p, row in zip(predicted, test, strict=True)) / len(test)
    print()
    print(f"{'preset':<28}{args.preset}")
    print(f"{'train examples / steps':<28}{len(train)} / {result.steps} ({result.epochs:g} epochs)")
    print(f"{'real tokens trained':<28}{result.trained_tokens:,}")
    rate = result.trained_tokens / (trained - started)
    print(f"{'training time':<28}{trained - started:.0f} s ({rate:.0f} example tokens/s)")
    print(f"{'evaluation time':<28}{finished - trained:.0f} s ({len(test)} test examples)")
    print(f"{'wall time (train + eval)':<28}{finished - started:.0f} s = {(finished - started) / 60:.1f} min")
    print(f"{'test accuracy':<28}{accuracy:.3f}")
    met = accuracy >= 0.85 and finished - started <= 900
    print(f"{'target':<28}accuracy >= 0.85 within 15 min: {'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
