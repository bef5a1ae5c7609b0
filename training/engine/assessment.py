"""What a new model version is worth on its validation split, next to the baseline on the same examples.

When a job finishes, the fine-tuned model and the project's baseline (the base model prompted with the
instructions, the label set and a few examples) answer the same validation inputs; the report holds each
one's accuracy (classification: the most likely label; extraction: the same JSON), per-label results and
the lift. Django-free: the worker passes rows and paths in and stores the dict it returns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from training.engine.inference import Predictor

EXTRACTION_MAX_NEW_TOKENS = 256


def baseline_instructions(training_config: dict) -> str:
    """A baseline's system prompt: the project's instructions, the label set and a few examples."""
    parts = [str(training_config.get("instructions") or "").strip()]
    labels = training_config.get("labels") or []
    if labels:
        parts.append("Answer with exactly one of: " + ", ".join(str(label) for label in labels) + ".")
    examples = training_config.get("few_shot_examples") or []
    if examples:
        shown = "\n\n".join(f"Input: {row['input']}\nOutput: {row['output']}" for row in examples)
        parts.append("Examples:\n\n" + shown)
    return "\n\n".join(part for part in parts if part)


def load_baseline(base_path: Path, training_config: dict, *, device: str | None = None) -> Predictor:
    """The base model, untrained, prompted as the baseline version describes."""
    import torch

    from training.engine.base_models import load_engine_model, load_tokenizer
    from training.engine.hardware import configure, pick_device

    target = torch.device(device) if device else pick_device()
    configure(target)
    model = load_engine_model(base_path, target)  # as serving holds a baseline version
    config = {**training_config, "instructions": baseline_instructions(training_config)}
    return Predictor(model, load_tokenizer(base_path), config, target)


def label_report(predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy and, per label, support, precision and recall (None where nothing was predicted)."""
    total = len(gold)
    correct = sum(p == g for p, g in zip(predicted, gold, strict=True))
    support, chosen = Counter(gold), Counter(predicted)
    hits = Counter(g for p, g in zip(predicted, gold, strict=True) if p == g)
    per_label = {}
    for label in dict.fromkeys([*labels, *support]):
        per_label[label] = {
            "support": support[label],
            "predicted": chosen[label],
            "correct": hits[label],
            "precision": hits[label] / chosen[label] if chosen[label] else None,
            "recall": hits[label] / support[label] if support[label] else None,
        }
    return {
        "examples": total,
        "correct": correct,
        "accuracy": correct / total if total else None,
        "per_label": per_label,
    }


def _json_equal(answer: str, gold: str) -> bool:
    try:
        return json.loads(answer) == json.loads(gold)
    except ValueError:
        return answer.strip() == gold.strip()


def answer_report(
    predictor: Predictor, rows: Sequence[dict], *, task_type: str, labels: Sequence[str] | None
):
    """The predictor's report on `rows` ({"input", "output"}); None for tasks without a simple score."""
    inputs = [str(row["input"]) for row in rows]
    gold = [str(row["output"]) for row in rows]
    if not rows:
        return None
    if task_type == "classification" and labels:
        predicted = predictor.best_labels(inputs, list(labels))
        return label_report(predicted, gold, labels)
    if task_type == "extraction":
        answers = predictor.generate(inputs, max_new_tokens=EXTRACTION_MAX_NEW_TOKENS)
        correct = sum(_json_equal(a, g) for a, g in zip(answers, gold, strict=True))
        return {"examples": len(rows), "correct": correct, "exact_match": correct / len(rows)}
    return None


def compare(model: dict | None, baseline: dict | None) -> dict | None:
    """{"metric", "model", "baseline", "lift"} on the same examples, or None when either is missing."""
    if not model or not baseline:
        return None
    metric = "accuracy" if "accuracy" in model else "exact_match"
    if model.get(metric) is None or baseline.get(metric) is None:
        return None
    return {
        "metric": metric,
        "examples": model["examples"],
        "model": model[metric],
        "baseline": baseline[metric],
        "lift": model[metric] - baseline[metric],
    }
