"""Extraction on Restaurant-8k (issue 11, benchmark 3): answers with and without JSON Schema constraints.

    .venv/bin/python benchmarks/extraction_constrained.py [--adapter DIR] [--train-rows 300] [--examples 200]
    .venv/bin/python benchmarks/extraction_constrained.py --preset balanced --train-rows 1000 --examples 500

A LoRA adapter on SmolLM2-135M-Instruct (``--adapter``, or one trained here on the first ``--train-rows``
rows of restaurant8k/train_small.jsonl: one short epoch by default, or a studio preset as a user's job
resolves it, e.g. the default ``balanced`` that the quality benchmark runs on CLINC150 and SMS spam, so no
preset is fitted to one dataset) answers the first ``--examples`` rows of
restaurant8k/test_small.jsonl twice, by greedy decoding with at most 64 new tokens: free, then held to
``SLOTS_SCHEMA``. For each it prints the share of answers that parse as JSON, that satisfy the schema
(``jsonschema``), the slot micro F1 over (slot, value) pairs (an answer that is not a JSON object counts
as no pairs), examples/s, and every answer that still fails.

Training targets are rewritten with their keys in the schema's order (the data lists them in either
order); the constrained decoder emits keys in that order, so the adapter should learn it too.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema
import torch
from training_quality import SHARED_DATA, read_jsonl, train_adapter

from training.engine.base_models import ensure_cached
from training.engine.config import Hyperparameters, resolve_preset
from training.engine.hardware import detect, pick_device
from training.engine.inference import load_model_version

INSTRUCTIONS = (
    "Extract the restaurant booking details from the message as a JSON object with any of the keys "
    "people, date, time, first_name, last_name (copy the words used); answer {} when there are none."
)
SLOTS = ["people", "date", "time", "first_name", "last_name"]
SLOTS_SCHEMA = {
    "type": "object",
    "properties": {slot: {"type": "string", "minLength": 1, "maxLength": 64} for slot in SLOTS},
    "additionalProperties": False,
}


def in_schema_order(output: str) -> str:
    slots = json.loads(output)
    return json.dumps({slot: slots[slot] for slot in SLOTS if slot in slots}, separators=(",", ":"))


def pairs(answer: str) -> set[tuple[str, str]]:
    try:
        value = json.loads(answer)
    except ValueError:
        return set()
    if not isinstance(value, dict):
        return set()
    return {(str(key), str(slot)) for key, slot in value.items()}


def report(name: str, answers: list[str], gold: list[str], seconds: float) -> None:
    validator = jsonschema.Draft202012Validator(SLOTS_SCHEMA)
    parsed, valid, failures = 0, 0, []
    true_positives = predicted = expected = 0
    for answer, reference in zip(answers, gold, strict=True):
        try:
            value = json.loads(answer)
            parsed += 1
            if validator.is_valid(value):
                valid += 1
            else:
                failures.append(f"schema: {answer!r}")
        except ValueError:
            failures.append(f"not JSON: {answer!r}")
        got, want = pairs(answer), pairs(reference)
        true_positives += len(got & want)
        predicted += len(got)
        expected += len(want)
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / expected if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    count = len(answers)
    print(
        f"{name:<14}{100 * parsed / count:>10.1f}%{100 * valid / count:>12.1f}%{f1:>10.3f}"
        f"{precision:>8.3f}{recall:>8.3f}{count / seconds:>12.2f}"
    )
    for failure in failures:
        print(f"    {failure}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "restaurant8k")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", "var/model-cache"))
    )
    parser.add_argument("--adapter", type=Path, help="a saved model version (else a short one is trained)")
    parser.add_argument("--keep", type=Path, help="keep the adapter trained here in this folder")
    parser.add_argument("--train-rows", type=int, default=300)
    parser.add_argument(
        "--preset", help="train with a studio preset (e.g. balanced) instead of one short epoch"
    )
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--threads", type=int, help="torch threads (default: every core)")
    args = parser.parse_args()

    cached = ensure_cached(None, args.cache)
    test = read_jsonl(args.data / "test_small.jsonl")[: args.examples]
    with tempfile.TemporaryDirectory() as work:
        adapter = args.adapter
        if adapter is None:
            rows = read_jsonl(args.data / "train_small.jsonl")[: args.train_rows]
            rows = [{"input": row["input"], "output": in_schema_order(row["output"])} for row in rows]
            if args.preset:
                hp = resolve_preset(args.preset, n_train_examples=len(rows), device_type=pick_device().type)
            else:
                hp = Hyperparameters(epochs=1, learning_rate=1e-3, batch_size=16, lora_r=16, lora_alpha=32)
            print(f"training on {len(rows)} rows: {hp.model_dump_json()}")
            started = time.perf_counter()
            result = train_adapter(
                cached, rows, hp, Path(work), instructions=INSTRUCTIONS, task_type="extraction"
            )
            print(f"trained {result.steps} steps in {time.perf_counter() - started:.0f} s")
            adapter = result.output_dir
            if args.keep:
                shutil.copytree(adapter, args.keep, dirs_exist_ok=True)
        predictor = load_model_version(adapter, cached)
    if args.threads:
        torch.set_num_threads(args.threads)
    hardware = detect()
    print(f"device: {hardware['device']} ({hardware['name']}), torch threads {torch.get_num_threads()}")
    texts = [row["input"] for row in test]
    gold = [row["output"] for row in test]

    print(f"\n{len(test)} examples of test_small.jsonl, greedy, at most 64 new tokens")
    print(
        f"{'decoding':<14}{'JSON-valid':>11}{'schema-valid':>13}{'slot F1':>10}{'P':>8}{'R':>8}"
        f"{'examples/s':>12}"
    )
    started = time.perf_counter()
    free = predictor.generate(texts, instructions=INSTRUCTIONS, max_new_tokens=64)
    free_seconds = time.perf_counter() - started
    started = time.perf_counter()
    held = predictor.generate(texts, instructions=INSTRUCTIONS, max_new_tokens=64, schema=SLOTS_SCHEMA)
    held_seconds = time.perf_counter() - started
    report("free", free, gold, free_seconds)
    report("constrained", held, gold, held_seconds)
    print(f"cost of the constraint: {free_seconds / held_seconds:.2f}x the free examples/s")


if __name__ == "__main__":
    main()
