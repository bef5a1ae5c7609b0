"""The metric names a run reports, by task type: what gates may name and dashboards show.

`higher_is_better` colours deltas and orients regression gates; `rate` metrics lie in [0, 1] (a charter
target written as a percentage, 85 for 0.85, is read as one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool = True
    rate: bool = True


_OPERATIONAL = (
    Metric("latency_p50_s", "Latency p50 (s)", higher_is_better=False, rate=False),
    Metric("latency_p95_s", "Latency p95 (s)", higher_is_better=False, rate=False),
    Metric("tokens_per_second", "Tokens/s", rate=False),
    Metric("cost_per_1000_requests", "Cost per 1,000 requests ($)", higher_is_better=False, rate=False),
    Metric("cost_per_successful_task", "Cost per successful task ($)", higher_is_better=False, rate=False),
)
POLICY = (Metric("pass_rate", "Policy probes passed"),)

METRICS: dict[str, tuple[Metric, ...]] = {
    "classification": (
        Metric("accuracy", "Accuracy"),
        Metric("macro_f1", "Macro-F1"),
        Metric("ece", "Expected calibration error", higher_is_better=False),
        Metric("brier", "Brier score", higher_is_better=False, rate=False),
        *_OPERATIONAL,
    ),
    "extraction": (
        Metric("field_f1", "Field F1"),
        Metric("field_precision", "Field precision"),
        Metric("field_recall", "Field recall"),
        Metric("exact_match", "Exact match"),
        Metric("json_valid_rate", "JSON-valid rate"),
        Metric("schema_valid_rate", "Schema-valid rate"),
        *_OPERATIONAL,
    ),
    "generation": (
        Metric("rouge_l", "ROUGE-L"),
        Metric("chrf", "chrF", rate=False),
        Metric("bleu", "BLEU", rate=False),
        Metric("rules_pass_rate", "Rules passed"),
        Metric("within_length_rate", "Within length limits"),
        *_OPERATIONAL,
    ),
}
ALIASES = {
    "macro-f1": "macro_f1",
    "macro f1": "macro_f1",
    "f1": "macro_f1",
    "slot_f1": "field_f1",
    "slot f1": "field_f1",
    "rouge-l": "rouge_l",
    "rougel": "rouge_l",
    "p95_latency": "latency_p95_s",
    "latency_p95": "latency_p95_s",
}


def metrics_for_task(task_type: str) -> tuple[Metric, ...]:
    """Every metric a run measures for `task_type`, the policy probes' included: what a gate may name."""
    return (*METRICS.get(task_type, ()), *POLICY)


def metric_for(task_type: str, name: str) -> Metric | None:
    """The metric a charter or gate means by `name` (case, spaces and common aliases forgiven)."""
    wanted = name.strip().lower()
    wanted = ALIASES.get(wanted, wanted).replace(" ", "_").replace("-", "_")
    if task_type == "extraction" and wanted == "macro_f1":
        wanted = "field_f1"
    return next((m for m in metrics_for_task(task_type) if m.name == wanted), None)


def metric_direction(task_type: str, name: str) -> bool:
    """True where a higher value is better (unknown metrics are assumed so)."""
    metric = metric_for(task_type, name)
    return metric.higher_is_better if metric else True
