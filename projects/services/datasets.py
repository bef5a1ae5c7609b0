"""Dataset writes: upload, redact, re-split and merge. Each makes one immutable, content-addressed version.

Every path goes through `_ingest_version`: one streaming validation pass into a temporary file, then the
version row and its files appear together, or neither does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from audit.services import audit_event_record
from projects.choices import DatasetKind, DatasetOperation, LawfulBasis, TaskType
from projects.downloads import dataset_version_export
from projects.ingest import ColumnMapping, Format, binary_kind, detect_format, ingest, not_text_message, pii
from projects.ingest.export import read_jsonl
from projects.ingest.splits import contamination, split_rows
from projects.models import Dataset, DatasetVersion, Project
from projects.policy import disallowed_data_classes, download_block_reason
from projects.roles import Action, can, require
from projects.schemas import SplitRatios
from projects.token_counts import default_token_counting
from studio.downloads import ExportedFile
from studio.errors import Conflict, Forbidden, InvalidInput, storage_writes
from studio.services import model_update
from studio.validation import parse

logger = logging.getLogger(__name__)
HEAD_BYTES = 64 * 1024
MAX_STORED_FINDINGS = 500
CARD_FIELDS = ("purpose", "source", "data_owner", "lawful_basis", "retention_days")


class DatasetRejected(InvalidInput):
    """The file failed validation; `details` lists each error with its line and field."""

    code = "dataset_invalid"


def _storage_dir() -> Path:
    folder = Path(settings.DATASETS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _rejection(report) -> DatasetRejected:
    first = report.errors[0]
    where = ", ".join(
        part for part in (f"line {first.line}" if first.line else "", first.field or "") if part
    )
    count = len(report.errors)
    message = f"The file was not accepted: {count} error{'s' if count != 1 else ''}. First: {first.message}"
    if where:
        message = f"{message} ({where})"
    return DatasetRejected(
        message,
        details={
            "errors": [issue.as_dict() for issue in report.errors],
            "warnings": [issue.as_dict() for issue in report.warnings],
        },
    )


def _read_head(stream: BinaryIO) -> bytes:
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    return head


def dataset_file_check_text(*, file: BinaryIO, filename: str) -> None:
    """Refuse a spreadsheet, PDF or other binary file by its first bytes, saying how to make a CSV."""
    kind = binary_kind(_read_head(file), filename)
    if kind:
        message = not_text_message(kind, filename)
        raise InvalidInput(message, code="not_a_text_file", details={"file": [message]})


def _check_column_mapping(column_mapping: dict | None) -> None:
    mapping = column_mapping or {}
    column = mapping.get("input_column")
    if column and column == mapping.get("output_column"):
        message = (
            f"The input and the output are the same column “{column}”: the output must be another column, "
            "the answer the model should give for that input."
        )
        raise InvalidInput(message, code="same_column", details={"output_column": [message]})


def _split_ratios(split_ratios) -> SplitRatios:
    if isinstance(split_ratios, SplitRatios):
        return split_ratios
    return parse(SplitRatios, split_ratios or {}, prefix="split_ratios.", what="split ratios")


def _row_mask(count: int, indices: list[int]) -> bytearray:
    """One byte per row (not a set of Python ints), so large files stay cheap."""
    mask = bytearray(count)
    for index in indices:
        mask[index] = 1
    return mask


def _input_iter(path: Path, mask: bytearray | None = None) -> Iterable[str]:
    with open(path, "rb") as handle:
        for index, row in enumerate(read_jsonl(handle)):
            if mask is None or mask[index]:
                yield row["input"]


def _contamination_report(
    *, project: Project, kind: str, rows_path: Path, splits: dict, exclude_dataset_id: int | None
) -> dict:
    """Where the same input sits on both sides of a train/test boundary, within this version and across
    the project's other datasets (golden test sets against training splits, and the reverse)."""
    report: dict = {}
    rows = sum(len(indices) for indices in splits.values())
    train = _row_mask(rows, splits["train"])
    if kind == DatasetKind.TRAINING:
        report["test_split"] = contamination(
            _input_iter(rows_path, train), _input_iter(rows_path, _row_mask(rows, splits["test"]))
        )
        others = DatasetVersion.objects.filter(dataset__project=project, dataset__kind=DatasetKind.GOLDEN)
    else:
        others = DatasetVersion.objects.filter(dataset__project=project, dataset__kind=DatasetKind.TRAINING)
    latest = {}
    for version in others.exclude(dataset_id=exclude_dataset_id).select_related("dataset").order_by("number"):
        latest[version.dataset_id] = version
    for version in latest.values():
        label = f"{version.dataset.name} v{version.number}"
        if kind == DatasetKind.TRAINING:
            result = contamination(_input_iter(rows_path, train), _input_iter(version.rows_path))
        else:
            other_splits = json.loads(version.splits_path.read_text())
            other_train = _row_mask(version.row_count, other_splits["train"])
            result = contamination(_input_iter(version.rows_path, other_train), _input_iter(rows_path))
        report.setdefault("other_datasets", {})[label] = result
    return report


@dataclass(frozen=True)
class _VersionFiles:
    """Where a new version's rows are written while validated (`part`), and their final names."""

    part: Path
    rows: Path
    splits: Path

    @classmethod
    def reserve(cls) -> tuple[_VersionFiles, int]:
        """Fresh names in the datasets folder, and the open handle of the temporary `part` file."""
        folder = _storage_dir()
        storage_name = f"{uuid.uuid4().hex}.jsonl"
        handle, part_name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
        files = cls(
            part=Path(part_name), rows=folder / storage_name, splits=folder / f"{storage_name}.splits.json"
        )
        return files, handle

    def publish(self, splits: dict) -> None:
        """Give the validated rows and their splits their final names (inside the row's transaction)."""
        self.splits.write_text(json.dumps(splits))
        os.replace(self.part, self.rows)

    def discard(self) -> None:
        for path in (self.part, self.rows, self.splits):
            try:
                path.unlink(missing_ok=True)
            except OSError:  # the folder turned read-only meanwhile: keep the error that brought us here
                logger.exception("Could not remove %s of a version that was not stored", path)


def _validate(stream: BinaryIO, handle: int, *, fmt: str, project: Project, column_mapping) -> tuple:
    """One streaming pass of the upload into the open `handle`: the ingest report and the tokenizer used."""
    counting = default_token_counting()
    with os.fdopen(handle, "wb") as dest:
        report = ingest(
            stream,
            fmt=fmt,
            dest=dest,
            task_type=project.task_type,
            column_mapping=column_mapping,
            output_schema=project.output_schema if project.task_type == TaskType.EXTRACTION else None,
            token_counter=counting.counter,
            context_length=counting.context_length,
        )
    if not report.ok:
        raise _rejection(report)
    return report, counting.tokenizer_name


def _splits(
    rows_path: Path, *, kind: str, project: Project, row_count: int, seed: int, ratios: SplitRatios
) -> dict:
    """Row indices of each split: a golden set is all test; training data is split by seed and ratios."""
    if kind == DatasetKind.GOLDEN:
        return {"train": [], "val": [], "test": list(range(row_count))}
    return split_rows(
        rows_path,
        seed=seed,
        ratios=ratios.as_tuple(),
        stratify_by_label=project.task_type == TaskType.CLASSIFICATION,
    )


def _dataset_create(*, project: Project, user, fields: dict) -> Dataset:
    dataset = Dataset(project=project, created_by=user, **fields)
    dataset.full_clean()
    dataset.save()
    audit_event_record(
        actor=user,
        action="dataset.create",
        target=dataset,
        payload={"name": dataset.name, "kind": dataset.kind},
    )
    return dataset


def _next_version_number(dataset: Dataset) -> int:
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()  # one version number at a time
    return (dataset.versions.aggregate(top=Max("number"))["top"] or 0) + 1


def _ingest_version(
    *,
    stream: BinaryIO,
    fmt: str,
    project: Project,
    dataset: Dataset | None,
    new_dataset: dict | None,
    user,
    operation: str,
    parent: DatasetVersion | None = None,
    merged_from: DatasetVersion | None = None,
    source_filename: str = "",
    column_mapping: ColumnMapping | dict | None = None,
    split_seed: int = 13,
    split_ratios: SplitRatios | None = None,
    note: str = "",
    within: Callable[[DatasetVersion], None] | None = None,
) -> DatasetVersion:
    """Validate, split and check a stream outside any transaction, then store it as the next version of
    `dataset` (created from `new_dataset` when None): the row and its files appear together, or neither.

    `within(version)` runs inside that transaction once the row is saved (a worker settles its lease
    there); if it raises, nothing of the version is kept."""
    with storage_writes("the dataset"):
        files, handle = _VersionFiles.reserve()
        try:
            report, tokenizer = _validate(
                stream, handle, fmt=fmt, project=project, column_mapping=column_mapping
            )
            kind = dataset.kind if dataset else new_dataset["kind"]
            ratios = split_ratios or SplitRatios()
            splits = _splits(
                files.part,
                kind=kind,
                project=project,
                row_count=report.row_count,
                seed=split_seed,
                ratios=ratios,
            )
            contaminated = _contamination_report(
                project=project,
                kind=kind,
                rows_path=files.part,
                splits=splits,
                exclude_dataset_id=dataset.pk if dataset else None,
            )
            findings = report.pii_findings
            if isinstance(column_mapping, ColumnMapping):
                column_mapping = column_mapping.as_dict()
            with transaction.atomic():
                dataset = dataset or _dataset_create(project=project, user=user, fields=new_dataset)
                version = DatasetVersion(
                    dataset=dataset,
                    number=_next_version_number(dataset),
                    parent=parent,
                    merged_from=merged_from,
                    operation=operation,
                    created_by=user,
                    source_filename=source_filename[:255],
                    source_format=str(fmt),
                    column_mapping=column_mapping or {},
                    storage_name=files.rows.name,
                    sha256=report.sha256,
                    size_bytes=files.part.stat().st_size,
                    row_count=report.row_count,
                    labels=report.labels,
                    stats={**report.stats, "tokenizer": tokenizer},
                    warnings=[issue.as_dict() for issue in report.warnings],
                    pii_findings=[finding.as_dict() for finding in findings[:MAX_STORED_FINDINGS]],
                    pii_summary=pii.summary(findings),
                    data_classes_found=sorted({finding.data_class for finding in findings}),
                    split_seed=split_seed,
                    split_ratios=list(ratios.as_tuple()),
                    split_counts={name: len(indices) for name, indices in splits.items()},
                    contamination=contaminated,
                    note=note,
                )
                version.full_clean()
                version.save()
                if within is not None:
                    within(version)
                files.publish(splits)
                audit_event_record(
                    actor=user,
                    action=f"dataset_version.{operation}",
                    target=version,
                    payload={
                        "dataset": dataset.name,
                        "number": version.number,
                        "sha256": report.sha256,
                        "rows": report.row_count,
                        "parent": parent.pk if parent else None,
                        "pii": version.pii_summary,
                    },
                )
            return version
        except BaseException:
            files.discard()
            raise


def _card(card: dict | None) -> dict:
    card = {key: value for key, value in (card or {}).items() if value is not None}
    unknown = set(card) - set(CARD_FIELDS)
    if unknown:
        raise InvalidInput(
            "Unknown data card fields.", details={field: ["Unknown field."] for field in unknown}
        )
    if "lawful_basis" in card and card["lawful_basis"] not in LawfulBasis.values:
        raise InvalidInput(
            "Unknown lawful basis.",
            details={"lawful_basis": [f"Choose one of {', '.join(LawfulBasis.values)}."]},
        )
    return card


@dataclass(frozen=True)
class UploadPlan:
    """What an upload's first bytes and options decided before its rows are read."""

    fmt: Format
    new_dataset: dict | None  # the fields of the dataset to create; None adds a version to a dataset


def upload_plan(
    *,
    project: Project,
    user,
    file: BinaryIO,
    filename: str,
    name: str = "",
    dataset: Dataset | None = None,
    kind: str = DatasetKind.TRAINING,
    fmt: str | None = None,
    column_mapping: dict | None = None,
    card: dict | None = None,
) -> UploadPlan:
    """The checks an upload passes before its rows are read (the right to upload, the dataset, kind,
    format and data card), answered at once whether the rows are then checked here or on a worker."""
    require(user, project.team, Action.MANAGE_DATASETS)
    if dataset is not None and dataset.project_id != project.pk:
        raise InvalidInput(
            "That dataset belongs to another project.", details={"dataset": ["Wrong project."]}
        )
    if kind not in DatasetKind.values:
        raise InvalidInput(
            "Unknown dataset kind.", details={"kind": [f"Choose one of {', '.join(DatasetKind.values)}."]}
        )
    dataset_file_check_text(file=file, filename=filename)
    _check_column_mapping(column_mapping)
    head = _read_head(file)
    try:
        fmt = Format(fmt) if fmt else detect_format(head, filename)
    except ValueError as error:
        raise InvalidInput(
            f"“{fmt}” is not a supported format.", details={"format": [f"Choose one of {', '.join(Format)}."]}
        ) from error
    new_dataset = None
    if dataset is None:
        name = (name or Path(filename).stem or "Dataset").strip()[:120]
        new_dataset = {"name": name, "kind": kind, **_card(card)}
    return UploadPlan(fmt=fmt, new_dataset=new_dataset)


def upload_ingest(
    *,
    stream: BinaryIO,
    plan: UploadPlan,
    project: Project,
    dataset: Dataset | None,
    user,
    filename: str,
    column_mapping: dict | None = None,
    split_seed: int = 13,
    split_ratios: dict | SplitRatios | None = None,
    within: Callable[[DatasetVersion], None] | None = None,
) -> DatasetVersion:
    """Read, check and store a planned upload as the next version (its parent: the latest version)."""
    parent = dataset.versions.order_by("-number").first() if dataset else None
    return _ingest_version(
        stream=stream,
        fmt=plan.fmt,
        project=project,
        dataset=dataset,
        new_dataset=plan.new_dataset,
        user=user,
        operation=DatasetOperation.UPLOAD,
        parent=parent,
        source_filename=filename,
        column_mapping=column_mapping,
        split_seed=split_seed,
        split_ratios=_split_ratios(split_ratios),
        within=within,
    )


def dataset_upload(
    *,
    project: Project,
    user,
    file: BinaryIO,
    filename: str,
    name: str = "",
    dataset: Dataset | None = None,
    kind: str = DatasetKind.TRAINING,
    fmt: str | None = None,
    column_mapping: dict | None = None,
    split_seed: int = 13,
    split_ratios: dict | None = None,
    card: dict | None = None,
) -> DatasetVersion:
    """Validate an uploaded file in one streaming pass and store it as a new dataset (or a new version)."""
    plan = upload_plan(
        project=project,
        user=user,
        file=file,
        filename=filename,
        name=name,
        dataset=dataset,
        kind=kind,
        fmt=fmt,
        column_mapping=column_mapping,
        card=card,
    )
    return upload_ingest(
        stream=file,
        plan=plan,
        project=project,
        dataset=dataset,
        user=user,
        filename=filename,
        column_mapping=column_mapping,
        split_seed=split_seed,
        split_ratios=split_ratios,
    )


def _derive(version: DatasetVersion, *, user, operation: str, stream: BinaryIO, **extra) -> DatasetVersion:
    dataset = version.dataset
    return _ingest_version(
        stream=stream,
        fmt=Format.JSONL,
        project=dataset.project,
        dataset=dataset,
        new_dataset=None,
        user=user,
        operation=operation,
        parent=version,
        **extra,
    )


def dataset_version_redact(*, version: DatasetVersion, user) -> DatasetVersion:
    """A new version with every PII finding replaced by a typed placeholder (<EMAIL>, <PHONE>, …)."""
    require(user, version.dataset.project.team, Action.MANAGE_DATASETS)
    if not version.pii_summary:
        raise Conflict("This version has no PII findings to redact.", code="nothing_to_redact")
    if (redacted := version.redacted_version()) is not None:
        raise Conflict(
            f"v{version.number} was already redacted as v{redacted.number}: use that version.",
            code="already_redacted",
            details={"version": redacted.pk, "number": redacted.number},
        )
    with (
        storage_writes("the redacted dataset"),
        tempfile.TemporaryFile(dir=_storage_dir()) as redacted,
        open(version.rows_path, "rb") as source,
    ):
        pii.redact_rows(source, redacted)
        redacted.seek(0)
        return _derive(
            version,
            user=user,
            operation=DatasetOperation.REDACT,
            stream=redacted,
            split_seed=version.split_seed,
            split_ratios=SplitRatios(
                **dict(zip(("train", "val", "test"), version.split_ratios, strict=True))
            ),
            note=f"Redacted {sum(version.pii_summary.values())} findings of v{version.number}",
        )


def dataset_version_resplit(
    *, version: DatasetVersion, user, seed: int, split_ratios: dict | None = None
) -> DatasetVersion:
    """The same rows under a different seed or ratios, as a new version (the content address is unchanged)."""
    require(user, version.dataset.project.team, Action.MANAGE_DATASETS)
    if version.dataset.kind == DatasetKind.GOLDEN:
        raise Conflict("A golden test set is never split.", code="golden_not_split")
    with open(version.rows_path, "rb") as source:
        return _derive(
            version,
            user=user,
            operation=DatasetOperation.SPLIT,
            stream=source,
            split_seed=seed,
            split_ratios=_split_ratios(split_ratios),
            note=f"Re-split with seed {seed}",
        )


def dataset_version_merge(*, version: DatasetVersion, other: DatasetVersion, user) -> DatasetVersion:
    """A new version of `version`'s dataset holding its rows followed by `other`'s."""
    require(user, version.dataset.project.team, Action.MANAGE_DATASETS)
    if other.dataset.project_id != version.dataset.project_id:
        raise InvalidInput(
            "Only versions of the same project can be merged.", details={"other": ["Wrong project."]}
        )
    if other.pk == version.pk:
        raise InvalidInput("A version cannot be merged with itself.", details={"other": ["Same version."]})
    with tempfile.TemporaryFile(dir=_storage_dir()) as merged:
        for source in (version.rows_path, other.rows_path):
            with open(source, "rb") as handle:
                shutil.copyfileobj(handle, merged)
        merged.seek(0)
        return _derive(
            version,
            user=user,
            operation=DatasetOperation.MERGE,
            stream=merged,
            merged_from=other,
            split_seed=version.split_seed,
            note=f"Merged {other.dataset.name} v{other.number}",
        )


def dataset_version_add_reviewed(
    *, version: DatasetVersion, rows: list[dict], user, note: str = ""
) -> DatasetVersion:
    """A new version of `version`'s dataset: its rows followed by human-reviewed production examples
    ({"input", "output"} each), validated like any upload."""
    require(user, version.dataset.project.team, Action.MANAGE_DATASETS)
    if not rows:
        raise Conflict("There are no reviewed examples to add.", code="nothing_to_add")
    with tempfile.TemporaryFile(dir=_storage_dir()) as combined:
        with open(version.rows_path, "rb") as handle:
            shutil.copyfileobj(handle, combined)
        for row in rows:
            combined.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        combined.seek(0)
        return _derive(
            version,
            user=user,
            operation=DatasetOperation.REVIEWED_EXAMPLES,
            stream=combined,
            split_seed=version.split_seed,
            split_ratios=SplitRatios(
                **dict(zip(("train", "val", "test"), version.split_ratios, strict=True))
            ),
            note=note or f"Added {len(rows)} reviewed production examples to v{version.number}",
        )


@transaction.atomic
def dataset_card_update(*, dataset: Dataset, user, **card) -> Dataset:
    require(user, dataset.project.team, Action.MANAGE_DATASETS)
    changes = model_update(instance=dataset, fields=CARD_FIELDS, data=_card(card))
    if changes:
        audit_event_record(actor=user, action="dataset.card_update", target=dataset, payload=changes)
    return dataset


def dataset_version_download(*, version: DatasetVersion, user, export: str) -> ExportedFile:
    """The version's rows as a file to download, audited with what was sent (format, size, SHA-256).

    A version holding personal data the charter does not allow leaves the studio only for those who may
    redact it (Forbidden with the reason for anyone else in the team). The file is built and hashed
    outside the transaction; the audit event is written once it exists.
    """
    blocked = download_block_reason(version)
    if blocked and not can(user, version.dataset.project.team, Action.MANAGE_DATASETS):
        raise Forbidden(blocked, code="download_blocked_by_policy", details={"reasons": [blocked]})
    exported = dataset_version_export(version, export)
    with transaction.atomic():
        audit_event_record(
            actor=user,
            action="dataset_version.download",
            target=version,
            payload={
                "export": export,
                "filename": exported.filename,
                "size": exported.size,
                "sha256": exported.sha256,
                "rows_sha256": version.sha256,
                "personal_data_not_allowed": disallowed_data_classes(version) if blocked else [],
            },
        )
    return exported
