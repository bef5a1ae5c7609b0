"""Calibration (issue 11, benchmark 2): ECE of the studio's confidence before and after temperature fitting.

    .venv/bin/python benchmarks/eval_calibration.py [--adapter DIR] [--examples 300] [--validation 300]
        [--labels N] [--max-steps N]

The eval path exactly as a run takes it (`evaluation.engine.answer` and `evaluation.scoring`): every
label's log-probability on a validation set (tolerance 0: full vectors), a temperature fitted on them
(`calibration.fit_temperature`, bounded NLL search), then the test examples answered by the batched
label scorer and their confidence softmax(log p / T). Printed side by side: accuracy, ECE (10
equal-width bins), Brier and NLL at T = 1 and at the fitted T; target ECE <= 0.05 after fitting.

Data: clinc150/test_small.jsonl (first `--examples`); a seeded sample of `--validation` rows from CLINC150's
own validation split (`original/data_full.json`; else clinc150/train.jsonl rows not in train_small.jsonl);
a LoRA adapter (`--adapter`, else one trained here on train_small with the `quick` preset, `--max-steps` to
cut it short). `--labels N` keeps the first N labels' rows only (smoke runs on a slow machine; the figure to
quote is the full 151-label run).
"""

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training_quality import SHARED_DATA, official_validation, read_jsonl, train_adapter

from evaluation.engine.answer import answer_cases, label_log_probs
from evaluation.scoring import calibration, classification
from training.engine.base_models import ensure_cached
from training.engine.config import resolve_preset
from training.engine.hardware import detect
from training.engine.inference import load_model_version

INSTRUCTIONS = "Classify the user's request into its intent label."


def figures(expected, scores, temperature):
    probabilities = [calibration.apply_temperature(row, temperature) for row in scores]
    predicted = [max(p, key=p.get) for p in probabilities]
    confidence = [max(p.values()) for p in probabilities]
    result = classification.classification_scores(
        expected, predicted, confidences=confidence, probabilities=probabilities
    )
    nll = -sum(math.log(max(p.get(e, 0.0), 1e-12)) for p, e in zip(probabilities, expected, strict=True))
    return result.accuracy, result.ece, result.brier, nll / len(expected)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "clinc150")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", "var/model-cache"))
    )
    parser.add_argument("--adapter", type=Path, help="a saved model version (else a quick one is trained)")
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--validation", type=int, default=300)
    parser.add_argument("--labels", type=int, help="keep the first N labels only (smoke runs)")
    parser.add_argument("--max-steps", type=int, help="cut the quick preset's training short")
    parser.add_argument("--save", type=Path, help="keep the trained adapter here")
    args = parser.parse_args()

    train_small = read_jsonl(args.data / "train_small.jsonl")
    labels = sorted({row["output"] for row in train_small})
    if args.labels:
        labels = labels[: args.labels]
    keep = set(labels)
    seen = {row["input"] for row in train_small}
    # The authors' validation split where it exists: rows of train.jsonl paraphrase the training rows, so
    # they flatter the adapter and a temperature fitted on them sharpens what the test split needs softened.
    pool = [
        row
        for row in official_validation(args.data) or read_jsonl(args.data / "train.jsonl")
        if row["input"] not in seen and row["output"] in keep
    ]
    validation = random.Random(13).sample(pool, min(args.validation, len(pool)))
    test = [row for row in read_jsonl(args.data / "test_small.jsonl") if row["output"] in keep][
        : args.examples
    ]
    train = [row for row in train_small if row["output"] in keep]

    cached = ensure_cached(None, args.cache)
    with tempfile.TemporaryDirectory() as work:
        adapter = args.adapter
        if adapter is None:
            hp = resolve_preset("quick", n_train_examples=len(train), device_type=detect()["device"])
            if args.max_steps:
                hp = hp.model_copy(update={"max_steps": args.max_steps, "epochs": None})
            print(f"training a quick adapter on {len(train)} rows: {hp.model_dump_json()}", flush=True)
            result = train_adapter(
                cached,
                train,
                hp,
                args.save or Path(work),
                instructions=INSTRUCTIONS,
                task_type="classification",
                labels=labels,
            )
            adapter = result.output_dir
        predictor = load_model_version(adapter, cached)
    hardware = detect()
    print(f"device: {hardware['device']} ({hardware['name']}); adapter {adapter}")
    print(f"{len(labels)} labels, {len(validation)} validation rows, {len(test)} test rows", flush=True)

    started = time.perf_counter()
    validation_scores = label_log_probs(predictor, [r["input"] for r in validation], labels, tolerance=0.0)
    fit = calibration.fit_temperature(validation_scores, [r["output"] for r in validation])
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    answers = answer_cases(predictor, [r["input"] for r in test], task_type="classification", labels=labels)
    answered = time.perf_counter() - started
    test_scores = [a.log_probs for a in answers]
    expected = [r["output"] for r in test]

    print(
        f"\ntemperature fitted on validation: T = {fit.temperature:.3f} "
        f"(validation NLL {fit.nll_before:.3f} -> {fit.nll_after:.3f}; {fitted:.0f} s)"
    )
    print(
        f"test answered by the batched scorer in {answered:.0f} s ({len(test) / answered:.2f} examples/s)\n"
    )
    print(f"{'confidence':<26}{'accuracy':>10}{'ECE':>8}{'Brier':>8}{'NLL':>8}")
    before = figures(expected, test_scores, 1.0)
    after = figures(expected, test_scores, fit.temperature)
    for name, row in (("raw (T = 1)", before), (f"calibrated (T = {fit.temperature:.2f})", after)):
        print(f"{name:<26}{row[0]:>10.3f}{row[1]:>8.3f}{row[2]:>8.3f}{row[3]:>8.3f}")
    print(f"\ntarget ECE <= 0.05 after temperature fitting: {'MET' if after[1] <= 0.05 else 'NOT MET'}")
    print(
        json.dumps(
            {
                "temperature": fit.temperature,
                "ece_before": before[1],
                "ece_after": after[1],
                "accuracy": after[0],
            }
        )
    )


if __name__ == "__main__":
    main()
