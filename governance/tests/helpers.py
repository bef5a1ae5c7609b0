"""Helpers for governance tests: versions with weights, signed specs and finished eval runs."""

from __future__ import annotations

import hashlib

from django.utils import timezone


def version_with_weights(
    project, owner, number: int, *, weights: bytes = b"w", base=None, dataset_version=None
):
    from training.models import ModelVersion
    from training.tests.factories import BaseModelFactory

    base = base or BaseModelFactory()
    return ModelVersion.objects.create(
        project=project,
        number=number,
        kind="fine_tuned",
        base_model=base,
        dataset_version=dataset_version,
        storage_name=f"{project.pk}-v{number}",
        artifacts=[
            {
                "path": "adapter_model.safetensors",
                "size": len(weights),
                "sha256": hashlib.sha256(weights).hexdigest(),
            }
        ],
        lineage={
            "base_model": {"key": base.key},
            "dataset_version": {"id": getattr(dataset_version, "pk", None)},
        },
        created_by=owner,
    )


def sign_spec(project, user):
    from evaluation import services

    spec = services.eval_spec_create(project=project, user=user, document={})
    return services.eval_spec_sign(spec=spec, user=user)


GATE = {"kind": "threshold", "metric": "accuracy", "comparator": ">=", "threshold": 0.8, "slice": "all"}
GATE_LABEL = "accuracy >= 0.8 on all"


def record_run(version, spec, *, passed: bool = True, accuracy: float | None = None):
    """A finished eval run of `version` against `spec` with one accuracy gate."""
    from evaluation.models import EvalRun

    accuracy = accuracy if accuracy is not None else (0.91 if passed else 0.55)
    verdict = {
        "gate": GATE,
        "passed": passed,
        "evaluated": True,
        "reason": "",
        "slice": "all",
        "value": accuracy,
    }
    now = timezone.now()
    return EvalRun.objects.create(
        project=version.project,
        spec=spec,
        model_version=version,
        created_by=spec.created_by,
        status="succeeded",
        started_at=now,
        finished_at=now,
        metrics={
            "all": {"accuracy": accuracy, "count": 36},
            "label:billing": {"accuracy": accuracy - 0.05, "count": 12},
        },
        gate_report={"passed": passed, "verdicts": [verdict]},
        gates_passed=passed,
    )
