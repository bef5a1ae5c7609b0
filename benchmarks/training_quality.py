"""Quality benchmark: one default preset on CLINC150 small and SMS spam, tuned on validation, tested once.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/training_quality.py                 # the figures
    .venv/bin/python benchmarks/training_quality.py --skip-test --validation-per-label 20 --set lora_r=64
                                                                                   # a tuning run
    .venv/bin/python benchmarks/training_quality.py --datasets clinc150 --keep DIR   # keep the adapter

Splits (``--data`` is the folder holding ``clinc150/`` and ``sms_spam/``):
- train: ``train_small.jsonl`` (CLINC150: 10 per intent, 151 intents with ``oos``; SMS: 400 per class);
- validation: a seeded few rows per label of the dataset's own validation split where it has one
  (CLINC150: ``original/data_full.json`` ``val`` + ``oos_val``, 3 per intent = 453 rows), otherwise rows of
  ``train.jsonl`` that are not in ``train_small.jsonl`` (SMS spam: 50 per class). Presets are chosen on
  these figures only;
- test: ``test_small.jsonl`` (CLINC150 453 rows, SMS 200), scored once per run, after training, and not
  at all with ``--skip-test`` (tuning runs).

Prints per dataset: steps, training time, evaluation time, validation accuracy (and spam F1), test
accuracy (CLINC150 target: >= 0.88 within 10 minutes of training + test evaluation) and spam F1.
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# The real data beside the checkout (../shared/data); not part of the project.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.engine.base_models import ensure_cached
from training.engine.config import resolve_preset
from training.engine.data import PromptFormat
from training.engine.hardware import autocast_dtype, detect, pick_device
from training.engine.inference import LabelTrie, load_model_version, predict_labels
from training.engine.runner import NullReporter, run_training

INSTRUCTIONS = "Classify the user's request into its intent label."
DATASETS = {
    # name: (instructions, validation rows per label, target accuracy, time budget in seconds)
    "clinc150": (INSTRUCTIONS, 3, 0.88, 600),
    "sms_spam": ("Classify the text message as spam or ham.", 50, None, None),
}


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def validation_rows(folder: Path, per_label: int, seed: int = 0) -> list[dict]:
    """A seeded few rows per label of the dataset's validation split (the authors' own, where the
    original files hold one), else of the full training file; none of them in the small training set."""
    small = {row["input"] for row in read_jsonl(folder / "train_small.jsonl")}
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in official_validation(folder) or read_jsonl(folder / "train.jsonl"):
        if row["input"] not in small:
            by_label[row["output"]].append(row)
    rng = random.Random(seed)
    rows = [row for label in sorted(by_label) for row in rng.sample(by_label[label], per_label)]
    rng.shuffle(rows)
    return rows


def official_validation(folder: Path) -> list[dict]:
    """CLINC150's validation split as its authors published it (in-scope ``val`` and ``oos_val``), or []."""
    original = folder / "original" / "data_full.json"
    if not original.exists():
        return []
    data = json.loads(original.read_text())
    return [{"input": text, "output": label} for text, label in data["val"] + data["oos_val"]]


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


def predict(predictor, instructions: str, labels: list[str], rows: list[dict], scoring: str) -> list[str]:
    texts = [row["input"] for row in rows]
    if scoring == "full":
        return predictor.best_labels(texts, labels)  # the endpoint's answer: the likeliest whole label
    fmt = PromptFormat(predictor.tokenizer, instructions)
    trie = LabelTrie({label: fmt.answer_ids(label) for label in labels})
    return predict_labels(predictor.model, fmt, texts, trie, batch_size=32)


def scores(predicted: list[str], rows: list[dict]) -> dict:
    gold = [row["output"] for row in rows]
    figures = {"accuracy": sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)}
    if "spam" in gold:
        hits = sum(p == g == "spam" for p, g in zip(predicted, gold, strict=True))
        precision = hits / max(1, predicted.count("spam"))
        recall = hits / max(1, gold.count("spam"))
        figures["spam_f1"] = 2 * precision * recall / (precision + recall) if hits else 0.0
    return figures


def shown(figures: dict) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in figures.items())


def run_dataset(name: str, args, cached) -> dict:
    instructions, per_label, target, budget = DATASETS[name]
    folder = args.data / name
    train = read_jsonl(folder / "train_small.jsonl")
    validation = validation_rows(folder, args.validation_per_label or per_label)
    labels = sorted({row["output"] for row in train})
    hp = resolve_preset(args.preset, n_train_examples=len(train), device_type=pick_device().type)
    if args.set:
        overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        hp = hp.model_validate({**hp.model_dump(), **overrides})
    print(f"\n== {name}: {len(train)} train / {len(validation)} validation rows, {len(labels)} labels")
    print(f"preset {args.preset}: {hp.model_dump_json()}", flush=True)

    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        result = train_adapter(
            cached,
            train,
            hp,
            Path(work),
            instructions=instructions,
            task_type="classification",
            labels=labels,
        )
        trained = time.perf_counter()
        predictor = load_model_version(result.output_dir, cached)
        outcome = {
            "name": name,
            "steps": result.steps,
            "epochs": result.epochs,
            "trained_tokens": result.trained_tokens,
            "dtype": result.hardware["dtype"],
            "training_seconds": trained - started,
            "target": target,
            "budget": budget,
        }
        if not args.skip_test:
            test = read_jsonl(folder / "test_small.jsonl")
            test_predicted = predict(predictor, instructions, labels, test, args.scoring)
            outcome["evaluation_seconds"] = time.perf_counter() - trained
            outcome["test_rows"] = len(test)
            outcome["test"] = scores(test_predicted, test)
        outcome["validation"] = scores(
            predict(predictor, instructions, labels, validation, args.scoring), validation
        )
        if args.keep:
            shutil.copytree(result.output_dir, args.keep / name, dirs_exist_ok=True)
    return outcome


def report(outcome: dict) -> None:
    print(f"\n{outcome['name']}")
    print(f"  {'steps':<30}{outcome['steps']} ({outcome['epochs']:g} epochs, {outcome['dtype']})")
    rate = outcome["trained_tokens"] / outcome["training_seconds"]
    print(f"  {'training time':<30}{outcome['training_seconds']:.0f} s ({rate:.0f} example tokens/s)")
    print(f"  {'validation':<30}{shown(outcome['validation'])}")
    if "test" not in outcome:
        print(f"  {'test':<30}not scored (--skip-test)")
        return
    wall = outcome["training_seconds"] + outcome["evaluation_seconds"]
    print(
        f"  {'test evaluation time':<30}{outcome['evaluation_seconds']:.0f} s ({outcome['test_rows']} rows)"
    )
    print(f"  {'wall time (train + test eval)':<30}{wall:.0f} s = {wall / 60:.1f} min")
    print(f"  {'test':<30}{shown(outcome['test'])}")
    if outcome["target"] is not None:
        met = outcome["test"]["accuracy"] >= outcome["target"] and wall <= outcome["budget"]
        print(
            f"  {'target':<30}accuracy >= {outcome['target']} within {outcome['budget'] // 60} min: "
            f"{'MET' if met else 'NOT MET'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", type=Path, default=SHARED_DATA, help="folder holding clinc150/ and sms_spam/"
    )
    parser.add_argument("--datasets", default="clinc150,sms_spam")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", "/tmp/slm-model-cache"))
    )
    parser.add_argument("--set", action="append", default=[], help="override a hyperparameter: name=value")
    parser.add_argument("--skip-test", action="store_true", help="tuning run: validation figures only")
    parser.add_argument(
        "--validation-per-label",
        type=int,
        help="validation rows per label (default: the dataset's; CLINC150 20 = its whole in-scope split)",
    )
    parser.add_argument("--keep", type=Path, help="keep each trained adapter in DIR/<dataset>")
    parser.add_argument(
        "--scoring",
        choices=["greedy", "full"],
        default="full",
        help="the likeliest whole label, as the endpoint answers (exact, few scored), or greedy decoding",
    )
    args = parser.parse_args()

    cached = ensure_cached(None, args.cache)
    hardware = detect()
    dtype = "bf16-autocast" if autocast_dtype(pick_device()) else "fp32"
    print(f"device: {hardware['device']} ({hardware['name']}, {hardware['threads']} threads, {dtype})")
    print(f"scoring: {args.scoring}")
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    outcomes = [run_dataset(name, args, cached) for name in args.datasets.split(",")]
    for outcome in outcomes:
        report(outcome)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
