"""A promotion's evidence, gathered from the studio's records, and the facts its tier is computed from.

Reads only. The evidence is a JSON snapshot kept on the request, so that what approvers judged stays
readable even after newer runs appear; its `key` names the eval run and spec version it holds, and a
request whose key no longer matches the current ones has stale evidence.
"""

from __future__ import annotations

import hashlib
from typing import Any

from evaluation.selectors import eval_run_latest, eval_spec_current_signed
from evaluation.services.comparisons import comparison_build
from governance import tiers
from studio.errors import ApplicationError, Conflict
from training.models import ModelVersion

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
PERSONAL_CLASSES = {"personal", "special_category"}


def gate_label(gate: dict) -> str:
    """A gate in a few words, the name a risk acceptance uses for it."""
    where = gate.get("slice", "all")
    if gate.get("kind") == "regression":
        return f"{gate.get('metric')} drops at most {gate.get('max_drop')} on {where}"
    return f"{gate.get('metric')} {gate.get('comparator')} {gate.get('threshold')} on {where}"


def base_family(version: ModelVersion) -> str:
    """The base model family: its architecture (SmolLM2 sizes are one family), else its catalog key."""
    return version.base_model.architecture or version.base_model.key


def weights_fingerprint(version: ModelVersion) -> tuple:
    shas = sorted(
        item.get("sha256", "")
        for item in version.artifacts or []
        if str(item.get("path", "")).endswith(WEIGHT_SUFFIXES)
    )
    return (version.base_model_id, version.base_model.weights_checksum, tuple(shas), version.kind)


def _dataset_versions(version: ModelVersion) -> list:
    return [version.dataset_version] if version.dataset_version_id else []


def data_card(dataset_version) -> dict:
    dataset = dataset_version.dataset
    return {
        "dataset_id": dataset.pk,
        "dataset": dataset.name,
        "version": dataset_version.number,
        "version_id": dataset_version.pk,
        "sha256": dataset_version.sha256,
        "rows": dataset_version.row_count,
        "purpose": dataset.purpose,
        "source": dataset.source,
        "data_owner": dataset.data_owner,
        "lawful_basis": dataset.lawful_basis,
        "retention_days": dataset.retention_days,
        "data_classes_found": list(dataset_version.data_classes_found or []),
        "pii_summary": dict(dataset_version.pii_summary or {}),
    }


def _personal_data(cards: list[dict]) -> list[str]:
    found = []
    for card in cards:
        name = f"{card['dataset']} v{card['version']}"
        counts = {
            kind: count for kind, count in card["pii_summary"].items() if isinstance(count, int) and count
        }
        if counts:
            found.append(f"{', '.join(sorted(counts))} found in {name}")
        classes = sorted(PERSONAL_CLASSES & set(card["data_classes_found"]))
        if classes:
            found.append(f"{', '.join(classes)} data in {name}")
        if card["lawful_basis"] != "not_personal":
            found.append(f"{name} is declared personal data ({card['lawful_basis'].replace('_', ' ')})")
    return found


def evidence_key(run_id, spec_id) -> str:
    return hashlib.sha256(f"run:{run_id}|spec:{spec_id}".encode()).hexdigest()


def current_evidence_key(version: ModelVersion) -> str:
    spec = eval_spec_current_signed(version.project)
    run = eval_run_latest(None, version, spec) if spec else None
    return evidence_key(run.pk if run else None, spec.pk if spec else None)


def failing_gates(evidence: dict) -> list[str]:
    return [verdict["label"] for verdict in evidence["eval_run"]["verdicts"] if not verdict["passed"]]


def evidence_collect(*, user, version: ModelVersion, production: ModelVersion | None) -> dict:
    """The evidence of promoting `version` over `production`: its eval run against the project's current
    signed spec (required: Conflict without one), gate verdicts, the release diff, data cards with their
    PII summaries, and the lineage. The model card is added by the service."""
    spec = eval_spec_current_signed(version.project)
    if spec is None:
        raise Conflict(
            "The project has no signed eval spec: sign one, run it on this version, then request again.",
            code="evaluation_required",
        )
    run = eval_run_latest(None, version, spec)
    if run is None:
        raise Conflict(
            f"Version {version.number} has no finished eval run against eval spec v{spec.version}: "
            "run it first.",
            code="evaluation_required",
            details={"spec": spec.pk, "spec_version": spec.version},
        )
    verdicts = [
        {
            "label": gate_label(verdict.get("gate", {})),
            "passed": bool(verdict.get("passed")),
            "evaluated": bool(verdict.get("evaluated", True)),
            "reason": verdict.get("reason", ""),
            "value": verdict.get("value"),
            "threshold": verdict.get("threshold"),
        }
        for verdict in (run.gate_report or {}).get("verdicts", [])
    ]
    release_diff: dict[str, Any] | None = None
    if production is not None and production.pk != version.pk:
        try:
            release_diff = comparison_build(user, version, production, spec=spec)
        except ApplicationError as error:  # the production version has no run against this spec
            release_diff = {"unavailable": error.message}
    return {
        "key": evidence_key(run.pk, spec.pk),
        "spec": {"id": spec.pk, "version": spec.version, "sha256": spec.sha256},
        "eval_run": {
            "id": run.pk,
            "finished_at": run.finished_at.isoformat() if getattr(run, "finished_at", None) else None,
            "gates_passed": bool(run.gates_passed) and all(v["passed"] for v in verdicts),
            "verdicts": verdicts,
            "metrics": (run.metrics or {}).get("all", {}),
        },
        "production": (
            {"id": production.pk, "number": production.number} if production is not None else None
        ),
        "release_diff": release_diff,
        "data_cards": [data_card(dv) for dv in _dataset_versions(version)],
        "lineage": version.lineage or {},
    }


def change_between(
    version: ModelVersion, production: ModelVersion | None, evidence: dict, *, risk_accepted: bool
) -> tiers.Change:
    """The facts the tier is computed from: `version` against the production version."""
    cards = evidence["data_cards"]
    personal = tuple(_personal_data(cards))
    gates_passed = evidence["eval_run"]["gates_passed"]
    if production is None:
        return tiers.Change(
            has_production=False,
            weights_changed=True,
            personal_data=personal,
            gates_passed=gates_passed,
            risk_accepted=risk_accepted,
        )
    prod_cards = [data_card(dv) for dv in _dataset_versions(production)]
    prod_sources = {card["dataset_id"] for card in prod_cards}
    prod_classes = {c for card in prod_cards for c in card["data_classes_found"]}
    return tiers.Change(
        has_production=True,
        weights_changed=weights_fingerprint(version) != weights_fingerprint(production),
        base_family_changed=base_family(version) != base_family(production),
        new_data_sources=tuple(
            sorted({card["dataset"] for card in cards if card["dataset_id"] not in prod_sources})
        ),
        new_data_classes=tuple(
            sorted({c for card in cards for c in card["data_classes_found"]} - prod_classes)
        ),
        personal_data=personal,
        gates_passed=gates_passed,
        risk_accepted=risk_accepted,
    )
