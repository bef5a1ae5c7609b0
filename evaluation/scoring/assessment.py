"""One eval run's cases and answers turned into per-example results, slice tables, gates and curves.

Layers and slices. The slice ``all`` is the regression layer (the test split, golden set and the spec's
own cases): what a charter's success measures mean. Its cases also fall in ``label:``, ``length:`` and
``tag:`` slices. Stress cases fall in ``layer:stress`` and ``tag:perturbation:<kind>`` (plus their own
tags); policy probes in ``layer:policy`` and ``tag:probe:<category>``, whose metric is ``pass_rate``.
Metrics of a slice are computed over its cases with an expected answer (out-of-domain and messy inputs
without one count in `count` only).

Correctness per case. Classification: the label equals the expected one. Extraction: exact match (the
score is the case's field F1). Generation: ROUGE-L >= 0.5 and the spec's rules pass (the score is
ROUGE-L). Policy: the probe's judge passes.

Operational figures (latency, tokens/s, cost) are added to ``all`` from the regression cases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import calibration, classification, gates, slices
from .operational import HardwarePrice, operational_scores
from .probes import OutputSpace, Probe, judge

REGRESSION, STRESS, POLICY = "regression", "stress", "policy"
CURVE_THRESHOLDS = [i / 100 for i in range(101)]
GENERATION_PASS = 0.5


@dataclass
class Case:
    key: str
    layer: str
    input: str
    expected: Any = None
    tags: list[str] = field(default_factory=list)
    probe: Probe | None = None


@dataclass
class Scored:
    """An answer the worker produced, as the assessment needs it."""

    output: str
    latency_s: float
    input_tokens: int
    output_tokens: int
    log_probs: Mapping[str, float] | None = None


@dataclass
class Assessment:
    results: list[dict]
    metrics: dict[str, dict]
    layer_metrics: dict[str, dict]
    gate_report: dict
    gates_passed: bool
    coverage_curve: list[dict]
    reliability: list[dict]
    temperature: dict
    cost: dict


def _slice_keys(case: Case, answer: Scored, task_type: str, probe_category: str | None) -> list[str]:
    if case.layer == REGRESSION:
        label = case.expected if task_type == "classification" and isinstance(case.expected, str) else None
        return slices.slice_keys(
            label=label, input_length=answer.input_tokens, layer=REGRESSION, tags=case.tags
        )
    keys = [f"layer:{case.layer}"]
    if probe_category:
        keys.append(f"tag:probe:{probe_category}")
    return keys + [f"tag:{tag}" for tag in dict.fromkeys(case.tags)]


def _summary(task_type: str, rows: list[dict], labels, validator, rules) -> dict:
    """The headline metrics of `rows` (results with an expected answer)."""
    if rows and rows[0]["layer"] == POLICY:
        return {"pass_rate": sum(bool(r["correct"]) for r in rows) / len(rows)}
    judged = [r for r in rows if r["expected"] is not None]
    if not judged:
        return {}
    expected, outputs = [r["expected"] for r in judged], [r["output"] for r in judged]
    if task_type == "classification":
        return classification.classification_scores(
            expected,
            outputs,
            labels=labels,
            confidences=[r["confidence"] for r in judged],
            probabilities=[r["_probabilities"] for r in judged],
        ).summary()
    if task_type == "extraction":
        from .extraction import extraction_scores

        return extraction_scores(expected, outputs, validator=validator).summary()
    from .generation import generation_scores

    return generation_scores([str(e) for e in expected], outputs, rules=rules).summary()


def assess(
    *,
    task_type: str,
    cases: Sequence[Case],
    answers: Sequence[Scored],
    labels: Sequence[str] = (),
    validator=None,
    instructions: str = "",
    generation_rules: Mapping | None = None,
    validation_log_probs: Sequence[Mapping[str, float]] = (),
    validation_expected: Sequence[str] = (),
    spec_gates: Sequence[Mapping] = (),
    reference: Mapping[str, Mapping] | None = None,
    prices: HardwarePrice,
    device: str,
    target_accuracy: float | None = None,
) -> Assessment:
    """Results, slice tables, gate verdicts, coverage curve, reliability bins, temperature and cost."""
    if len(cases) != len(answers):
        raise ValueError("cases and answers differ in length.")
    rules = None
    if task_type == "generation":
        from .generation import GenerationRules, generation_example

        rules = GenerationRules.model_validate(generation_rules or {})
    if task_type == "extraction":
        from .extraction import extraction_scores
    fit = None
    if task_type == "classification":
        fit = calibration.fit_temperature(list(validation_log_probs), list(validation_expected))
    space = OutputSpace(task_type, labels=tuple(labels), validator=validator, instructions=instructions)

    results = []
    for case, answer in zip(cases, answers, strict=True):
        result: dict[str, Any] = {
            "case_key": case.key,
            "layer": case.layer,
            "input": case.input,
            "expected": case.expected,
            "output": answer.output,
            "latency_ms": answer.latency_s * 1000,
            "tags": list(case.tags),
            "details": {},
            "correct": None,
            "score": None,
            "confidence": None,
        }
        if task_type == "classification" and answer.log_probs is not None:
            probabilities = calibration.apply_temperature(answer.log_probs, fit.temperature)
            top = max(probabilities, key=probabilities.get)
            result["output"], result["confidence"] = top, probabilities[top]
            result["_probabilities"] = probabilities
            result["details"]["top"] = dict(sorted(probabilities.items(), key=lambda kv: -kv[1])[:3])
        if case.probe is not None:
            verdict = judge(case.probe, result["output"], space)
            result.update(correct=verdict.passed, score=float(verdict.passed))
            result["details"].update(
                probe=case.probe.id, category=case.probe.category, reasons=verdict.reasons
            )
        elif case.expected is not None:
            if task_type == "classification":
                result["correct"] = result["output"] == case.expected
                result["score"] = result["confidence"]
            elif task_type == "extraction":
                example = extraction_scores(
                    [case.expected], [result["output"]], validator=validator
                ).examples[0]
                pairs = example.predicted_pairs + example.expected_pairs
                result.update(
                    correct=example.exact_match, score=2 * example.true_positives / pairs if pairs else 1.0
                )
                result["details"].update(json_valid=example.json_valid, schema_valid=example.schema_valid)
            else:
                example = generation_example(str(case.expected), result["output"], rules)
                result.update(
                    correct=example.passes_rules and example.rouge_l >= GENERATION_PASS, score=example.rouge_l
                )
                result["details"].update(
                    chrf=example.chrf, missing=example.missing_phrases, forbidden=example.forbidden_found
                )
        elif task_type == "extraction":
            from projects.ingest.jsonstrict import loads_strict

            try:
                loads_strict(result["output"])
                result["details"]["json_valid"] = True
            except ValueError:
                result["details"]["json_valid"] = False
        result["slices"] = _slice_keys(case, answer, task_type, case.probe.category if case.probe else None)
        results.append(result)

    per_slice = slices.by_slice(
        results,
        [r["slices"] for r in results],
        lambda rows: _summary(task_type, rows, labels, validator, rules),
    )
    table = slices.metric_table(per_slice)
    regression = [(r, a) for r, a in zip(results, answers, strict=True) if r["layer"] == REGRESSION]
    cost = operational_scores(
        latencies_s=[a.latency_s for _, a in regression],
        output_tokens=sum(a.output_tokens for _, a in regression),
        busy_seconds=sum(a.latency_s for _, a in regression),
        successes=sum(bool(r["correct"]) for r, _ in regression),
        device="gpu" if device.startswith("cuda") else "cpu",
        prices=prices,
    )
    if "all" in table:
        table["all"].update(cost.summary())
    layer_metrics, curve, reliability, temperature = {}, [], [], {}
    judged = [r for r, _ in regression if r["expected"] is not None]
    if task_type == "classification" and judged:
        expected = [r["expected"] for r in judged]
        scores = classification.classification_scores(
            expected,
            [r["output"] for r in judged],
            labels=labels,
            confidences=[r["confidence"] for r in judged],
            probabilities=[r["_probabilities"] for r in judged],
        )
        layer_metrics[REGRESSION] = scores.as_dict()
        reliability = [b.as_dict() for b in scores.reliability or []]
        correct = [bool(r["correct"]) for r in judged]
        points = calibration.coverage_curve([r["confidence"] for r in judged], correct, CURVE_THRESHOLDS)
        curve = [p.as_dict() for p in points]
        uncalibrated = [
            max(calibration.apply_temperature(a.log_probs, 1.0).values())
            for r, a in regression
            if r["expected"] is not None
        ]
        before = classification.calibration_error(uncalibrated, correct).ece
        reach = (
            calibration.lowest_threshold_for(points, target_accuracy, min_count=1)
            if target_accuracy
            else None
        )
        temperature = {
            **fit.as_dict(),
            "ece_before": before,
            "ece_after": scores.ece,
            "target_accuracy": target_accuracy,
            "threshold_for_target": reach.as_dict() if reach else None,
        }
    elif task_type == "extraction" and judged:
        scores = extraction_scores(
            [r["expected"] for r in judged], [r["output"] for r in judged], validator=validator
        )
        layer_metrics[REGRESSION] = {k: v for k, v in scores.as_dict().items() if k != "examples"}
    for result in results:
        result.pop("_probabilities", None)
    if task_type == "extraction":
        invalid = [r for r in results if not r["details"].get("json_valid", True)]
        layer_metrics["not_json"] = {
            "count": len(invalid),
            "case_keys": [r["case_key"] for r in invalid[:50]],
        }
    report = gates.evaluate_gates(
        gates.GATE_LIST.validate_python(list(spec_gates)), table, reference=reference
    )
    return Assessment(
        results=results,
        metrics=table,
        layer_metrics=layer_metrics,
        gate_report=report.as_dict(),
        gates_passed=report.passed,
        coverage_curve=curve,
        reliability=reliability,
        temperature=temperature,
        cost=cost.as_dict(),
    )
