"""Batched answers for an eval run: a model version loaded once, every case answered in chunks.

Chunks of `CHUNK` inputs go through the training engine's batched paths (one call per chunk, batched
inside); between chunks the caller's `on_chunk(done)` reports progress and may stop the run. A case's
latency is its chunk's wall time divided by the chunk's size: what a batching server spends per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.engine.assessment import load_baseline
from training.engine.errors import TrainingCancelled
from training.engine.inference import DEFAULT_TOLERANCE, Predictor

CHUNK = 64


@dataclass(frozen=True)
class Answer:
    output: str
    latency_s: float
    input_tokens: int
    output_tokens: int
    confidence: float | None = None  # classification: the top label's probability at temperature 1
    log_probs: dict[str, float] | None = None  # classification: every label's log-probability (T = 1)


def load_predictor(
    *, base_path: Path, adapter_dir: Path | None, training_config: dict, device: str | None = None
) -> Predictor:
    """A fine-tuned version (its adapter or full weights in `adapter_dir`) or, without one, the baseline."""
    if adapter_dir is not None:
        from training.engine.inference import load_model_version

        return load_model_version(adapter_dir, base_path, device=device)
    return load_baseline(base_path, training_config, device=device)


def label_log_probs(
    predictor: Predictor,
    inputs: Sequence[str],
    labels: Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[dict[str, float]]:
    """Every label's log-probability per input at temperature 1 (labels left unscored: -inf)."""
    scores = predictor.label_scores(list(inputs), list(labels), tolerance=tolerance)
    return [dict(zip(labels, score.log_probs, strict=True)) for score in scores]


def answer_cases(
    predictor: Predictor,
    inputs: Sequence[str],
    *,
    task_type: str,
    labels: Sequence[str] = (),
    schema: dict | None = None,
    max_new_tokens: int = 128,
    on_chunk: Callable[[int], bool] | None = None,
    chunk: int = CHUNK,
) -> list[Answer]:
    """One answer per input. Classification answers are always one of `labels`; with a `schema`,
    extraction answers are decoded under it. `on_chunk(done)` returning False stops with
    `TrainingCancelled`."""
    tokenizer = predictor.tokenizer
    answers: list[Answer] = []
    for start in range(0, len(inputs), chunk):
        batch = list(inputs[start : start + chunk])
        began = time.perf_counter()
        if task_type == "classification":
            scores = predictor.label_scores(batch, list(labels))
            outputs = [score.label for score in scores]
            extra = [
                {"confidence": score.confidence, "log_probs": dict(zip(labels, score.log_probs, strict=True))}
                for score in scores
            ]
        else:
            outputs = predictor.generate(
                batch, max_new_tokens=max_new_tokens, schema=schema if task_type == "extraction" else None
            )
            extra = [{} for _ in batch]
        each = (time.perf_counter() - began) / len(batch)
        for text, output, more in zip(batch, outputs, extra, strict=True):
            answers.append(
                Answer(
                    output=output,
                    latency_s=each,
                    input_tokens=len(tokenizer(text, add_special_tokens=False)["input_ids"]),
                    output_tokens=len(tokenizer(output, add_special_tokens=False)["input_ids"]) or 1,
                    **more,
                )
            )
        if on_chunk is not None and not on_chunk(len(answers)):
            raise TrainingCancelled("stopped")
    return answers
