"""Gates: what "good enough to ship" means, judged against a result set, with the evidence.

A result set maps slice -> metric -> value: ``{"all": {"accuracy": 0.91, "count": 300},
"label:refund": {...}}`` (`slices.metric_table` builds one). A value of None is a missing metric.

- `Gate`: metric, comparator, threshold, slice (default ``all``). Fails, with the reason, when the
  slice or the metric is missing.
- `RegressionGate`: no slice may fall more than `max_drop` below the reference result set (the
  current production version's), in the metric's own units (0.02 = two points of a 0-1 accuracy);
  `higher_is_better=False` for latency or cost, where a regression is a rise. `slice` is a glob over
  slice keys (``*`` every slice of the reference, ``label:*`` every label). A reference slice missing
  from the candidate fails. Without a reference (no production version yet) the gate is not
  evaluated and does not block: `evaluated` is False and the reason says so.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .values import AsDict, number

ResultSet = Mapping[str, Mapping[str, float | None]]
Comparator = Literal[">=", "<=", ">", "<"]

_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["threshold"] = "threshold"
    metric: str = Field(min_length=1, max_length=80)
    comparator: Comparator
    threshold: float = Field(allow_inf_nan=False)
    slice: str = Field(default="all", min_length=1, max_length=200)


class RegressionGate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["regression"] = "regression"
    metric: str = Field(min_length=1, max_length=80)
    max_drop: float = Field(ge=0, allow_inf_nan=False)
    higher_is_better: bool = True
    slice: str = Field(default="*", min_length=1, max_length=200)


AnyGate = Annotated[Gate | RegressionGate, Field(discriminator="kind")]
# Gates as stored in a spec's JSON, each naming its "kind": GATE_LIST.validate_python(spec["gates"])
GATE_LIST = TypeAdapter(list[AnyGate])


@dataclass(frozen=True)
class SliceRegression(AsDict):
    slice: str
    value: float | None
    reference: float
    change: float | None  # value - reference


@dataclass(frozen=True)
class GateVerdict(AsDict):
    gate: dict
    passed: bool
    evaluated: bool
    reason: str
    slice: str
    value: float | None = None
    threshold: float | None = None
    regressions: list[SliceRegression] = field(default_factory=list)


@dataclass(frozen=True)
class GateReport(AsDict):
    passed: bool
    verdicts: list[GateVerdict]


def _value(results: ResultSet, slice_key: str, metric: str) -> float | None:
    return number(results.get(slice_key, {}).get(metric))


def _judge_threshold(gate: Gate, results: ResultSet) -> GateVerdict:
    base = {"gate": gate.model_dump(), "evaluated": True, "slice": gate.slice, "threshold": gate.threshold}
    if gate.slice not in results:
        return GateVerdict(**base, passed=False, reason=f"No results for slice {gate.slice!r}.")
    value = _value(results, gate.slice, gate.metric)
    if value is None:
        reason = f"Metric {gate.metric!r} is missing on slice {gate.slice!r}."
        return GateVerdict(**base, passed=False, reason=reason)
    passed = _COMPARE[gate.comparator](value, gate.threshold)
    relation = gate.comparator if passed else f"not {gate.comparator}"
    reason = f"{gate.metric} = {value:.4g} on {gate.slice}: {relation} {gate.threshold:.4g}."
    return GateVerdict(**base, passed=passed, reason=reason, value=value)


def _judge_regression(gate: RegressionGate, results: ResultSet, reference: ResultSet | None) -> GateVerdict:
    base = {"gate": gate.model_dump(), "slice": gate.slice}
    if reference is None:
        reason = "No reference result set: nothing to regress against."
        return GateVerdict(**base, passed=True, evaluated=False, reason=reason)
    regressions, checked = [], 0
    for slice_key in sorted(fnmatch.filter(reference, gate.slice)):
        before = _value(reference, slice_key, gate.metric)
        if before is None:
            continue
        checked += 1
        after = _value(results, slice_key, gate.metric)
        change = None if after is None else after - before
        drop = None if change is None else (-change if gate.higher_is_better else change)
        if drop is None or drop > gate.max_drop:
            regressions.append(SliceRegression(slice_key, after, before, change))
    passed = not regressions
    if passed:
        reason = f"{gate.metric}: no drop beyond {gate.max_drop:.4g} on {checked} slice(s)."
    else:
        named = ", ".join(r.slice for r in regressions[:5])
        more = f" and {len(regressions) - 5} more" if len(regressions) > 5 else ""
        reason = f"{gate.metric} regressed beyond {gate.max_drop:.4g} (or is missing) on {named}{more}."
    return GateVerdict(
        **base, passed=passed, evaluated=True, reason=reason, threshold=gate.max_drop, regressions=regressions
    )


def evaluate_gates(
    gates: Sequence[Gate | RegressionGate], results: ResultSet, *, reference: ResultSet | None = None
) -> GateReport:
    """Each gate's verdict with its evidence; the report passes when every gate passes."""
    verdicts = [
        _judge_regression(gate, results, reference)
        if isinstance(gate, RegressionGate)
        else _judge_threshold(gate, results)
        for gate in gates
    ]
    return GateReport(passed=all(v.passed for v in verdicts), verdicts=verdicts)
