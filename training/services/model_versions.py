"""Model versions: registered (fine-tuned or baseline), described and tagged, exported as merged weights."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from audit.services import audit_event_record
from projects.models import DatasetVersion, Project
from projects.roles import Action, require
from studio.downloads import ExportedFile
from studio.errors import Conflict
from studio.services import model_update
from training.choices import Method, ModelVersionKind
from training.downloads import model_version_export
from training.models import BaseModel, ModelVersion


def _next_model_number(project: Project, kind: str) -> int:
    """Fine-tuned versions count from v1: the project's first baseline takes number 0 (shown as
    “Baseline”), so the first model a team trains is v1, not v2."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    versions = ModelVersion.objects.filter(project=project)
    if kind == ModelVersionKind.BASELINE and not versions.filter(number=0).exists():
        return 0
    return (versions.aggregate(top=Max("number"))["top"] or 0) + 1


@transaction.atomic
def model_version_register(
    *, project: Project, user, kind: str = ModelVersionKind.FINE_TUNED, **fields
) -> ModelVersion:
    version = ModelVersion(
        project=project, number=_next_model_number(project, kind), kind=kind, created_by=user, **fields
    )
    version.full_clean()
    version.save()
    audit_event_record(
        actor=user,
        action="model_version.register",
        target=version,
        payload={
            "number": version.number,
            "kind": kind,
            "job": fields["training_job"].pk if fields.get("training_job") else None,
        },
    )
    return version


FEW_SHOT_EXAMPLES = 8


def baseline_ensure(
    *, project: Project, dataset_version: DatasetVersion, base_model: BaseModel, user
) -> ModelVersion:
    """The project's baseline for a base model: no training; instructions and a few examples in the prompt."""
    existing = ModelVersion.objects.filter(
        project=project, kind=ModelVersionKind.BASELINE, base_model=base_model
    ).first()
    if existing:
        return existing
    from projects.ingest.export import read_jsonl

    wanted: dict[str, dict] = {}
    with open(dataset_version.rows_path, "rb") as handle:
        for row in read_jsonl(handle):
            key = row["output"] if project.task_type == "classification" else str(len(wanted))
            wanted.setdefault(key, {"input": row["input"], "output": row["output"]})
            if len(wanted) >= FEW_SHOT_EXAMPLES:
                break
    return model_version_register(
        project=project,
        user=user,
        kind=ModelVersionKind.BASELINE,
        base_model=base_model,
        dataset_version=dataset_version,
        training_config={
            "instructions": project.instructions,
            "few_shot_examples": list(wanted.values()),
            "task_type": project.task_type,
            "labels": dataset_version.labels,
        },
        lineage={
            "base_model": {"key": base_model.key, "weights_checksum": base_model.weights_checksum},
            "dataset_version": {"id": dataset_version.pk, "sha256": dataset_version.sha256},
            "note": "Prompted base model, no training: the reference every comparison shows lift against.",
        },
        description="Baseline: the base model prompted with the project's instructions and a few examples.",
    )


@transaction.atomic
def model_version_update(
    *, version: ModelVersion, user, description: str | None = None, tags: list[str] | None = None
) -> ModelVersion:
    """Only the description and tags of a model version can change."""
    require(user, version.project.team, Action.RUN_JOBS)
    data = {}
    if description is not None:
        data["description"] = description
    if tags is not None:
        data["tags"] = sorted({tag.strip() for tag in tags if tag.strip()})
    changes = model_update(instance=version, fields=("description", "tags"), data=data)
    if changes:
        audit_event_record(actor=user, action="model_version.update", target=version, payload=changes)
    return version


@transaction.atomic
def model_version_request_merged_export(*, version: ModelVersion, user) -> bool:
    """Queue the merged-weights export on a worker; True when it is already there."""
    require(user, version.project.team, Action.RUN_JOBS)
    if version.kind != ModelVersionKind.FINE_TUNED or not version.storage_name:
        raise Conflict("Only fine-tuned versions have weights to merge.", code="no_artifacts")
    if version.training_config.get("hyperparameters", {}).get("method") == Method.FULL:
        raise Conflict(
            "A fully fine-tuned version is already standalone: download it as is.", code="already_full"
        )
    if version.merged_dir.exists():
        return True
    from training.tasks import model_version_export_merged

    audit_event_record(actor=user, action="model_version.export_merged", target=version, payload={})
    transaction.on_commit(lambda: model_version_export_merged.delay(version.pk))
    return False


def model_version_download(*, version: ModelVersion, user, artifact: str = "adapter") -> ExportedFile:
    """The adapter or the merged weights as a zip to download, audited with what was sent (size, SHA-256
    of the zip, and the registered checksum of every adapter file). Built outside the transaction."""
    exported = model_version_export(version, artifact)
    payload = {
        "artifact": artifact,
        "filename": exported.filename,
        "size": exported.size,
        "sha256": exported.sha256,
    }
    if artifact == "adapter":
        payload["files"] = {item["path"]: item.get("sha256", "") for item in version.artifacts}
    with transaction.atomic():
        audit_event_record(actor=user, action="model_version.download", target=version, payload=payload)
    return exported
