"""Comparisons: two model versions measured against the same signed spec, and the one-page release diff.

`comparison_build` only reads (it writes nothing, so it needs no transaction or audit event); it lives
beside the services because governance calls it as a step of requesting a promotion, to attach the
release diff. The candidate is `a`, the reference (production, or the baseline) `b`; a delta is a - b.
"""

from __future__ import annotations

from typing import Any

from evaluation.choices import RunStatus
from evaluation.metrics import METRICS, POLICY, metric_direction
from evaluation.models import EvalResult, EvalRun, EvalSpec
from studio.errors import Conflict, InvalidInput
from training.models import ModelVersion

FLIPS_SHOWN = 200
SAME = 1e-9
LINEAGE_KEYS = (
    ("base_model", "key"),
    ("base_model", "weights_checksum"),
    ("dataset_version", "id"),
    ("dataset_version", "sha256"),
    ("charter_version",),
    ("code_version",),
)


def _runs_for(a: ModelVersion, b: ModelVersion, spec: EvalSpec | None) -> tuple[EvalRun, EvalRun]:
    """The latest succeeded runs of both versions against `spec`, or against the newest signed spec
    both were run on."""
    runs = EvalRun.objects.filter(model_version__in=[a, b], status=RunStatus.SUCCEEDED).select_related(
        "spec", "model_version"
    )
    if spec is not None:
        runs = runs.filter(spec=spec)
    latest: dict[tuple[int, int], EvalRun] = {}
    for run in runs.order_by("-spec__version", "-finished_at", "-id"):
        latest.setdefault((run.spec_id, run.model_version_id), run)
    for run in latest.values():
        other = latest.get((run.spec_id, b.pk if run.model_version_id == a.pk else a.pk))
        if run.model_version_id == a.pk and other is not None:
            return run, other
    missing = [f"v{v.number}" for v in (a, b) if not any(key[1] == v.pk for key in latest)]
    raise Conflict(
        "Both versions need a succeeded run against the same signed spec"
        + (f" (none for {', '.join(missing)})." if missing else "."),
        code="no_common_run",
        details={"missing": missing},
    )


def _direction(task_type: str, metric: str, delta: float | None) -> str:
    if delta is None:
        return "missing"
    if abs(delta) <= SAME:
        return "same"
    better = delta > 0 if metric_direction(task_type, metric) else delta < 0
    return "better" if better else "worse"


def _metric_deltas(task_type: str, a: dict, b: dict) -> dict[str, dict[str, dict]]:
    """{slice: {metric: {a, b, delta, direction}}} over every slice either run reports."""
    names = [m.name for m in (*METRICS.get(task_type, ()), *POLICY)]
    deltas: dict[str, dict[str, dict]] = {}
    for slice_key in sorted(set(a) | set(b), key=lambda key: (key != "all", key)):
        row = {}
        for name in names:
            value_a, value_b = a.get(slice_key, {}).get(name), b.get(slice_key, {}).get(name)
            if value_a is None and value_b is None:
                continue
            delta = value_a - value_b if value_a is not None and value_b is not None else None
            row[name] = {
                "a": value_a,
                "b": value_b,
                "delta": delta,
                "direction": _direction(task_type, name, delta),
            }
        if row:
            count_a, count_b = a.get(slice_key, {}).get("count"), b.get(slice_key, {}).get("count")
            deltas[slice_key] = {"count": {"a": count_a, "b": count_b}, "metrics": row}
    return deltas


def _flips(run_a: EvalRun, run_b: EvalRun) -> dict[str, Any]:
    """Cases right in one run and wrong in the other, matched by case key (layer + input)."""
    fields = ("id", "case_key", "layer", "input", "expected", "output", "correct", "confidence")
    before = {row["case_key"]: row for row in EvalResult.objects.filter(run=run_b).values(*fields)}
    fixed, broken, compared = [], [], 0
    for row in EvalResult.objects.filter(run=run_a).order_by("index").values(*fields):
        other = before.get(row["case_key"])
        if other is None or row["correct"] is None or other["correct"] is None:
            continue
        compared += 1
        if row["correct"] == other["correct"]:
            continue
        flip = {
            "case_key": row["case_key"],
            "layer": row["layer"],
            "input": row["input"],
            "expected": row["expected"],
            "output_a": row["output"],
            "output_b": other["output"],
            "confidence_a": row["confidence"],
            "confidence_b": other["confidence"],
            "result_a": row["id"],
            "result_b": other["id"],
        }
        (fixed if row["correct"] else broken).append(flip)
    return {
        "compared": compared,
        "fixed_count": len(fixed),
        "broken_count": len(broken),
        "fixed": fixed[:FLIPS_SHOWN],
        "broken": broken[:FLIPS_SHOWN],
    }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _config(version: ModelVersion) -> dict[str, Any]:
    """The version's training config, flattened, without what only describes the worker it ran on (where
    the base model's files lay: the same weights are named by their checksum) or its few-shot examples."""
    flat = _flatten({k: v for k, v in version.training_config.items() if k != "few_shot_examples"})
    return {key: value for key, value in flat.items() if key.rsplit(".", 1)[-1] != "path"}


def _config_diff(a: ModelVersion, b: ModelVersion) -> list[dict]:
    config_a, config_b = _config(a), _config(b)
    return [
        {"key": key, "a": config_a.get(key), "b": config_b.get(key)}
        for key in sorted(set(config_a) | set(config_b))
        if config_a.get(key) != config_b.get(key)
    ]


def _lineage_diff(a: ModelVersion, b: ModelVersion) -> list[dict]:
    def pick(lineage: dict, path: tuple[str, ...]):
        for part in path:
            lineage = lineage.get(part) if isinstance(lineage, dict) else None
        return lineage

    return [
        {"key": ".".join(path), "a": pick(a.lineage, path), "b": pick(b.lineage, path)}
        for path in LINEAGE_KEYS
        if pick(a.lineage, path) != pick(b.lineage, path)
    ]


def _version(version: ModelVersion, run: EvalRun) -> dict:
    return {
        "id": version.pk,
        "number": version.number,
        "kind": version.kind,
        "stage": version.stage,
        "run": run.pk,
        "gates_passed": run.gates_passed,
        "gate_report": run.gate_report,
        "cost": run.cost,
        "temperature": run.temperature.get("temperature") if run.temperature else None,
    }


def _release_notes(task_type: str, comparison: dict, run_a: EvalRun) -> dict[str, list[str]]:
    """The release diff's four sections, as sentences."""
    changed = [f"{item['key']}: {item['b']} → {item['a']}" for item in comparison["lineage_diff"]]
    changed += [f"config {item['key']}: {item['b']} → {item['a']}" for item in comparison["config_diff"][:10]]
    moved, regressed = [], []
    for name, cell in comparison["metrics"].get("all", {}).get("metrics", {}).items():
        if cell["direction"] in ("better", "worse"):
            moved.append(
                f"{name}: {_fmt(cell['b'])} → {_fmt(cell['a'])} ({cell['delta']:+.4g}, {cell['direction']})"
            )
    for slice_key, row in comparison["metrics"].items():
        for name, cell in row["metrics"].items():
            if slice_key != "all" and cell["direction"] == "worse" and abs(cell["delta"]) >= 0.01:
                regressed.append(
                    f"{slice_key} {name}: {_fmt(cell['b'])} → {_fmt(cell['a'])} ({cell['delta']:+.4g})"
                )
    flips = comparison["flips"]
    if flips["broken_count"]:
        regressed.insert(0, f"{flips['broken_count']} case(s) the reference got right are now wrong.")
    risks = [
        f"Gate failed: {verdict['reason']}"
        for verdict in (run_a.gate_report or {}).get("verdicts", [])
        if not verdict.get("passed")
    ]
    policy = run_a.metrics.get("layer:policy", {}).get("pass_rate")
    if policy is not None and policy < 1:
        risks.append(f"Policy probes: {policy:.0%} passed; read the failed probes before release.")
    ece = run_a.metrics.get("all", {}).get("ece")
    if ece is not None and ece > 0.05:
        risks.append(
            f"Confidence is miscalibrated (ECE {ece:.3f} > 0.05): routing thresholds are less reliable."
        )
    stress = run_a.metrics.get("layer:stress", {})
    base = run_a.metrics.get("all", {})
    for name in ("accuracy", "field_f1", "rouge_l"):
        if stress.get(name) is not None and base.get(name) is not None and base[name] - stress[name] > 0.1:
            risks.append(f"Under stress {name} falls from {base[name]:.3f} to {stress[name]:.3f}.")
    small = [
        key for key, row in run_a.metrics.items() if key.startswith("label:") and (row.get("count") or 0) < 5
    ]
    if small:
        risks.append(f"{len(small)} label slice(s) have fewer than 5 test cases: their figures are noise.")
    return {
        "what_changed": changed or ["Nothing in the lineage or configuration differs."],
        "what_moved": moved or ["No headline metric moved."],
        "what_regressed": regressed or ["Nothing regressed."],
        "risks": risks or ["No open risk found by the spec's checks."],
    }


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4g}"


def comparison_build(user, a: ModelVersion, b: ModelVersion, *, spec: EvalSpec | None = None) -> dict:
    """Candidate `a` against reference `b`: metric and slice deltas, example flips, config and lineage
    diff and the release notes, as plain JSON. Both must be visible to `user` (the caller fetched them
    through a selector) and in one project."""
    if a.project_id != b.project_id:
        raise InvalidInput("Compare two versions of the same project.", details={"b": ["Another project."]})
    if a.pk == b.pk:
        raise InvalidInput("Choose two different versions.", details={"b": ["The same version as a."]})
    run_a, run_b = _runs_for(a, b, spec)
    task_type = a.project.task_type
    comparison = {
        "project": a.project_id,
        "task_type": task_type,
        "spec": {"id": run_a.spec_id, "version": run_a.spec.version, "sha256": run_a.spec.sha256},
        "a": _version(a, run_a),
        "b": _version(b, run_b),
        "metrics": _metric_deltas(task_type, run_a.metrics, run_b.metrics),
        "flips": _flips(run_a, run_b),
        "config_diff": _config_diff(a, b),
        "lineage_diff": _lineage_diff(a, b),
    }
    comparison["release_notes"] = _release_notes(task_type, comparison, run_a)
    return comparison


def comparison_markdown(comparison: dict) -> str:
    """The one-page release diff, as Markdown to print or attach to a promotion request."""
    a, b = comparison["a"], comparison["b"]
    lines = [
        f"# Release diff: v{a['number']} ({a['kind']}) against v{b['number']} ({b['kind']}, {b['stage']})",
        "",
        f"Eval spec v{comparison['spec']['version']} (sha256 `{comparison['spec']['sha256'][:12]}…`); "
        f"gates: v{a['number']} {_verdict(a['gates_passed'])}, v{b['number']} {_verdict(b['gates_passed'])}.",
        "",
    ]
    for title, key in (
        ("What changed", "what_changed"),
        ("What moved", "what_moved"),
        ("What regressed", "what_regressed"),
        ("Risks that remain", "risks"),
    ):
        lines += [f"## {title}", "", *(f"- {item}" for item in comparison["release_notes"][key]), ""]
    lines += [
        "## Metrics (all cases of the regression layer)",
        "",
        "| metric | before | after | change |",
        "|---|---|---|---|",
    ]
    for name, cell in comparison["metrics"].get("all", {}).get("metrics", {}).items():
        change = "—" if cell["delta"] is None else f"{cell['delta']:+.4g} ({cell['direction']})"
        lines.append(f"| {name} | {_fmt(cell['b'])} | {_fmt(cell['a'])} | {change} |")
    flips = comparison["flips"]
    lines += ["", f"## Cases that flipped ({flips['fixed_count']} fixed, {flips['broken_count']} broken)", ""]
    for title, items in (("Broken", flips["broken"][:10]), ("Fixed", flips["fixed"][:10])):
        for flip in items:
            lines.append(
                f"- {title} ({flip['layer']}): “{_short(flip['input'])}” "
                f"expected {_short(str(flip['expected']))}; "
                f"before {_short(flip['output_b'])}, after {_short(flip['output_a'])}"
            )
    return "\n".join(lines).rstrip() + "\n"


def _verdict(passed: bool | None) -> str:
    return "passed" if passed else ("failed" if passed is False else "not judged")


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"
