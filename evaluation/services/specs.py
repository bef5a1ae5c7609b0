"""Eval specs: a new version (gates pre-filled from the charter), and signing, which locks it."""

from __future__ import annotations

import hashlib
import json

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event_record
from evaluation.metrics import metric_for
from evaluation.models import EvalSpec
from evaluation.schemas import EvalSpecDocument
from projects.choices import DatasetKind
from projects.models import DatasetVersion, Project
from projects.roles import Action, require
from projects.selectors import charter_latest
from studio.errors import Conflict, InvalidInput
from studio.validation import parse


def spec_digest(spec: EvalSpec) -> str:
    """SHA-256 of what the spec says (project, version, gates, layers, cases, settings) as canonical JSON."""
    content = {
        "project": spec.project_id,
        "version": spec.version,
        "gates": spec.gates,
        "layers": spec.layers,
        "cases": spec.cases,
        "settings": spec.settings,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def gates_from_charter(project: Project) -> list[dict]:
    """One threshold gate on the whole regression layer per charter success measure the studio can
    measure (a business metric such as "tickets deflected" is left to people; see
    `charter_measures_unmeasured`)."""
    gates = []
    for measure, metric in _charter_measures(project):
        if metric is None:
            continue
        target = float(measure["target"])
        if metric.rate and target > 1:
            target /= 100
        comparator = ">=" if measure.get("higher_is_better", True) else "<="
        gates.append(
            {
                "kind": "threshold",
                "metric": metric.name,
                "comparator": comparator,
                "threshold": target,
                "slice": "all",
            }
        )
    return gates


def charter_measures_unmeasured(project: Project) -> list[str]:
    """The charter's success measures that name no metric the studio measures for the project's task, so
    they make no gate (the spec form says so, and which names would)."""
    return [measure["metric"] for measure, metric in _charter_measures(project) if metric is None]


def _charter_measures(project: Project):
    charter = charter_latest(project=project)
    for measure in charter.success_measures if charter else []:
        yield measure, metric_for(project.task_type, measure["metric"])


def _latest_training_version(project: Project) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(dataset__project=project, dataset__kind=DatasetKind.TRAINING)
        .order_by("-created_at", "-id")
        .first()
    )


def _check_dataset_version(project: Project, pk: int | None, kind: str, field: str) -> None:
    if pk is None:
        return
    found = DatasetVersion.objects.filter(pk=pk, dataset__project=project).values_list(
        "dataset__kind", flat=True
    )
    if not found:
        raise InvalidInput(
            "That dataset version is not in this project.", details={field: ["No such dataset version here."]}
        )
    if found[0] != kind:
        wanted = (
            "a training dataset (its test split)" if kind == DatasetKind.TRAINING else "a golden test set"
        )
        raise InvalidInput(f"{field} must name {wanted}.", details={field: [f"Choose {wanted}."]})


def _validate_document(project: Project, document: EvalSpecDocument) -> None:
    from evaluation.scoring.probes import probe_set

    regression = document.layers.regression
    _check_dataset_version(
        project, regression.dataset_version, DatasetKind.TRAINING, "layers.regression.dataset_version"
    )
    _check_dataset_version(
        project,
        regression.golden_dataset_version,
        DatasetKind.GOLDEN,
        "layers.regression.golden_dataset_version",
    )
    if (
        regression.dataset_version is None
        and regression.golden_dataset_version is None
        and not document.cases
    ):
        raise InvalidInput(
            "The regression layer needs a dataset version, a golden set or cases of its own.",
            details={"layers.regression": ["Upload a dataset first, or write cases."]},
        )
    try:
        probe_set(document.layers.policy.probes)
    except ValueError as error:
        raise InvalidInput(str(error), details={"layers.policy.probes": [str(error)]}) from None
    if document.settings.generation_rules:
        from evaluation.scoring.generation import GenerationRules

        parse(GenerationRules, document.settings.generation_rules, prefix="settings.generation_rules.")


@transaction.atomic
def eval_spec_create(*, project: Project, user, document: dict, note: str = "") -> EvalSpec:
    """The project's next spec version. Without `gates` they are pre-filled from the charter's success
    measures; without a regression dataset the latest training dataset version's test split is used."""
    require(user, project.team, Action.EDIT_EVAL_SPEC)
    parsed = parse(EvalSpecDocument, document, what="eval spec")
    if (
        parsed.layers.regression.dataset_version is None
        and parsed.layers.regression.golden_dataset_version is None
    ):
        latest = _latest_training_version(project)
        parsed.layers.regression.dataset_version = latest.pk if latest else None
    _validate_document(project, parsed)
    Project.objects.select_for_update().filter(pk=project.pk).first()
    number = (EvalSpec.objects.filter(project=project).aggregate(top=Max("version"))["top"] or 0) + 1
    dump = parsed.model_dump(mode="json")
    spec = EvalSpec(
        project=project,
        version=number,
        gates=dump["gates"] if parsed.gates is not None else gates_from_charter(project),
        layers=dump["layers"],
        cases=dump["cases"],
        settings=dump["settings"],
        note=note,
        created_by=user,
    )
    spec.sha256 = spec_digest(spec)
    spec.full_clean()
    spec.save()
    audit_event_record(
        actor=user,
        action="eval_spec.create",
        target=spec,
        payload={"version": number, "sha256": spec.sha256, "gates": spec.gates, "cases": len(spec.cases)},
    )
    return spec


@transaction.atomic
def eval_spec_sign(*, spec: EvalSpec, user) -> EvalSpec:
    """Sign a spec version: records who, when and its SHA-256, and locks it for good."""
    require(user, spec.project.team, Action.SIGN_EVAL_SPEC)
    spec = EvalSpec.objects.select_for_update().select_related("project__team").get(pk=spec.pk)
    if spec.is_signed:
        raise Conflict(
            f"Version {spec.version} was already signed; it is locked.",
            code="spec_signed",
            details={"signed_at": spec.signed_at.isoformat(), "sha256": spec.sha256},
        )
    digest = spec_digest(spec)
    if digest != spec.sha256:
        raise Conflict("The spec's content no longer matches its digest.", code="spec_tampered")
    spec.signed_by, spec.signed_at = user, timezone.now()
    spec.save(update_fields=["signed_by", "signed_at", "updated_at"])
    audit_event_record(
        actor=user, action="eval_spec.sign", target=spec, payload={"version": spec.version, "sha256": digest}
    )
    return spec
