"""Dataset pages: upload (the browser sends the file to the API), inspect, versions, card, redact, split."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from projects import charts as charts_module
from projects import selectors, services
from projects.choices import DatasetKind, DatasetVersionStatus, ImportStatus
from projects.forms import (
    DatasetCardForm,
    DatasetResplitForm,
    DatasetUploadForm,
)
from projects.ingest import (
    Format,
    binary_kind,
    detect_format,
    head_encoding_problem,
    not_text_message,
    preview_rows,
    read_header,
    suggest_column_mapping,
)
from projects.journey import JourneyFacts, StepAction, train_job_url
from projects.policy import download_block_reason, training_block_reasons
from projects.roles import Action, can, require
from projects.views.navigation import project_crumbs, safe_next
from studio.charts import ACCENT, SECOND

_SENTINEL_PK = 999999999


def _upload_context(request, *, project, dataset=None) -> dict:
    version_url = reverse("projects:dataset_version_detail", args=[_SENTINEL_PK])
    crumbs = project_crumbs(project)
    if dataset is not None:
        crumbs.append((dataset.name, reverse("projects:dataset_detail", args=[dataset.pk])))
    return {
        "project": project,
        "dataset": dataset,
        "form": DatasetUploadForm() if dataset is None else None,
        "inspect_url": reverse("projects:dataset_inspect", args=[project.pk]),
        "api_url": "/api/v1/datasets/",
        "version_url_template": version_url.replace(str(_SENTINEL_PK), "{id}"),
        "max_upload_bytes": settings.STUDIO_MAX_UPLOAD_BYTES,
        "head_bytes": INSPECT_HEAD_BYTES,
        "breadcrumbs": [*crumbs, ("Upload a new version" if dataset else "Upload a dataset", None)],
    }


@login_required
def dataset_upload(request, pk: int):
    """The upload page; the browser sends the file to the datasets API (multipart, with progress)."""
    project = selectors.project_get(user=request.user, pk=pk)
    require(request.user, project.team, Action.MANAGE_DATASETS)
    return render(request, "projects/dataset_upload.html", _upload_context(request, project=project))


@login_required
def dataset_version_upload(request, pk: int):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    require(request.user, dataset.project.team, Action.MANAGE_DATASETS)
    context = _upload_context(request, project=dataset.project, dataset=dataset)
    return render(request, "projects/dataset_upload.html", context)


INSPECT_HEAD_BYTES = 64 * 1024
_PREVIEW_CELL_CHARS = 160


def _preview_cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _PREVIEW_CELL_CHARS else text[: _PREVIEW_CELL_CHARS - 1] + "…"


@login_required
@require_POST
def dataset_inspect(request, pk: int):
    """The first bytes of a file (the request body) → its format, columns, first rows and a suggested
    input/output mapping, for the upload page's mapping step. Nothing is stored."""
    project = selectors.project_get(user=request.user, pk=pk)
    require(request.user, project.team, Action.MANAGE_DATASETS)
    head = request.body[:INSPECT_HEAD_BYTES]
    filename = request.GET.get("filename", "")[:255]
    kind = binary_kind(head, filename)
    if kind:  # a spreadsheet's bytes never become column names
        problem = not_text_message(kind, filename)
        return JsonResponse(
            {"format": None, "needs_mapping": False, "header": [], "preview": [], "problem": problem}
        )
    fmt = detect_format(head, filename)
    header = read_header(head, fmt)
    rows = preview_rows(head, fmt, limit=5)
    suggestion = suggest_column_mapping(header, rows) if header else None
    tabular = fmt in (Format.CSV, Format.TSV)
    return JsonResponse(
        {
            "format": str(fmt),
            "needs_mapping": tabular,
            "header": header,
            "preview": [[_preview_cell(row.get(column, "")) for column in header] for row in rows],
            "suggested": suggestion.as_dict()
            if suggestion
            else {"input_column": None, "output_column": None},
            "problem": head_encoding_problem(head),
        }
    )


# --- Dataset versions ---------------------------------------------------------------------------------


@login_required
def dataset_import_detail(request, pk: int):
    """A large upload being checked on a worker: the page polls its status in the API and opens the new
    version once it is stored, or lists each error with its line and field."""
    record = selectors.dataset_import_get(user=request.user, pk=pk)
    project = record.project
    again = (
        reverse("projects:dataset_version_upload", args=[record.dataset_id])
        if record.dataset_id
        else reverse("projects:dataset_upload", args=[project.pk])
    )
    context = {
        "record": record,
        "project": project,
        "statuses": ImportStatus.display(),
        "poll_interval_ms": int(settings.STUDIO_PROGRESS_INTERVAL_SECONDS * 500) or 1000,
        "upload_again_url": again,
        "version_url_template": reverse("projects:dataset_version_detail", args=[_SENTINEL_PK]).replace(
            str(_SENTINEL_PK), "{id}"
        ),
        "breadcrumbs": project_crumbs(project, f"Checking {record.source_filename or 'an upload'}"),
    }
    return render(request, "projects/dataset_import_detail.html", context)


@login_required
def dataset_detail(request, pk: int):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    latest = selectors.dataset_version_list(user=request.user, dataset=dataset).order_by("-number").first()
    if latest is None:
        return redirect("projects:project_detail", pk=dataset.project_id)
    return redirect("projects:dataset_version_detail", pk=latest.pk)


def _length_unit(stats: dict) -> str:
    """“tokens of SmolLM2-135M-Instruct” or “characters”, to follow “Lengths in”."""
    if stats.get("length_unit") == "tokens":
        return f"tokens of {stats['tokenizer']}" if stats.get("tokenizer") else "tokens"
    return "characters"


def _version_next_step(*, version, dataset, project, reasons, charter, user, redacted_as) -> dict:
    """The one step a person takes after reading this version: open the version its personal data was
    redacted into, fix what blocks it, or train on it."""
    facts = JourneyFacts(user=user, project=project, charter=charter, datasets=[])
    if reasons and redacted_as is not None:
        return {
            "title": f"Use v{redacted_as.number}, its redacted version",
            "text": reasons[0],
            "action": StepAction(
                f"Open v{redacted_as.number}, its redacted version",
                reverse("projects:dataset_version_detail", args=[redacted_as.pk]),
            ),
        }
    if reasons:
        version.dataset = dataset
        action = facts.fix_action(version)
        return {
            "title": action.label if action else "Unblock this version",
            "text": reasons[0],
            "action": action,
        }
    if dataset.kind == DatasetKind.GOLDEN:
        return {
            "title": "Back to the project",
            "text": "A golden test set is for evaluation only: it never trains a model.",
            "action": StepAction("Open the project", reverse("projects:project_detail", args=[project.pk])),
        }
    if not facts.can(Action.RUN_JOBS):
        return {
            "title": "A model trained on it",
            "text": "This version is ready to train on; a product owner or ML engineer starts the job.",
            "action": None,
        }
    return {
        "title": "Train a model on this version",
        "text": f"{version.split_counts.get('train', 0)} training and {version.split_counts.get('val', 0)} "
        "validation rows; a quick job takes a few minutes on a CPU worker.",
        "action": StepAction("Train a model on this version", train_job_url(project, version)),
    }


def _dataset_charts(version) -> dict:
    stats = version.stats or {}
    unit = "tokens" if stats.get("length_unit") == "tokens" else "characters"
    charts = {}
    if stats.get("label_distribution"):
        charts["labels"] = charts_module.label_distribution_figure(stats["label_distribution"]).to_json()
    for key, color in (("input_length", ACCENT), ("output_length", SECOND)):
        summary = stats.get(key) or {}
        if summary.get("count"):
            charts[key] = charts_module.length_histogram_figure(summary, unit=unit, color=color).to_json()
    return charts


@login_required
def dataset_version_detail(request, pk: int):
    version = selectors.dataset_version_get(user=request.user, pk=pk)
    dataset, project = version.dataset, version.dataset.project
    charter = selectors.charter_latest(project=project)
    reasons = training_block_reasons(version, charter=charter)
    can_manage = can(request.user, project.team, Action.MANAGE_DATASETS)
    download_blocked = None if can_manage else download_block_reason(version)
    stats = version.stats or {}
    contamination = version.contamination or {}
    redacted_as = version.redacted_version() if version.pii_summary else None
    context = {
        "version": version,
        "dataset": dataset,
        "project": project,
        "charter": charter,
        "versions": selectors.dataset_version_list(user=request.user, dataset=dataset).order_by("-number"),
        "status": DatasetVersionStatus.BLOCKED if reasons else DatasetVersionStatus.READY,
        "next_step": _version_next_step(
            version=version,
            dataset=dataset,
            project=project,
            reasons=reasons,
            charter=charter,
            user=request.user,
            redacted_as=redacted_as,
        ),
        "block_reasons": reasons,
        "stats": stats,
        "length_unit": _length_unit(stats),
        "charts": _dataset_charts(version),
        "pii_total": sum(version.pii_summary.values()),
        "redacted_as": redacted_as,
        "pii_summary": sorted(version.pii_summary.items(), key=lambda item: -item[1]),
        "test_contamination": contamination.get("test_split"),
        "other_contamination": sorted((contamination.get("other_datasets") or {}).items()),
        "is_latest": not dataset.versions.filter(number__gt=version.number).exists(),
        "can_manage": can_manage,
        "download_blocked": download_blocked,
        "card_form": DatasetCardForm(initial={f: getattr(dataset, f) for f in services.CARD_FIELDS})
        if can_manage
        else None,
        "resplit_form": DatasetResplitForm(initial={"seed": version.split_seed + 1}) if can_manage else None,
        "breadcrumbs": project_crumbs(project, f"{dataset.name} v{version.number}"),
    }
    return render(request, "projects/dataset_version_detail.html", context)


@login_required
@require_POST
def dataset_card_edit(request, pk: int):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    require(request.user, dataset.project.team, Action.MANAGE_DATASETS)
    form = DatasetCardForm(request.POST)
    back = safe_next(request, reverse("projects:dataset_detail", args=[dataset.pk]))
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label or field}: {' '.join(errors)}")
        return redirect(back)
    services.dataset_card_update(dataset=dataset, user=request.user, **form.cleaned_data)
    messages.success(request, "Data card saved.")
    return redirect(back)


@login_required
@require_POST
def dataset_version_redact(request, pk: int):
    version = selectors.dataset_version_get(user=request.user, pk=pk)
    redacted = services.dataset_version_redact(version=version, user=request.user)
    messages.success(
        request, f"Redacted: v{redacted.number} replaces every finding with a typed placeholder."
    )
    return redirect("projects:dataset_version_detail", pk=redacted.pk)


@login_required
@require_POST
def dataset_version_resplit(request, pk: int):
    version = selectors.dataset_version_get(user=request.user, pk=pk)
    require(request.user, version.dataset.project.team, Action.MANAGE_DATASETS)
    form = DatasetResplitForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Seed: {' '.join(form.errors['seed'])}")
        return redirect("projects:dataset_version_detail", pk=version.pk)
    resplit = services.dataset_version_resplit(
        version=version, user=request.user, seed=form.cleaned_data["seed"]
    )
    messages.success(request, f"Re-split with seed {resplit.split_seed} as v{resplit.number}.")
    return redirect("projects:dataset_version_detail", pk=resplit.pk)


@login_required
def dataset_version_download(request, pk: int, export: str):
    version = selectors.dataset_version_get(user=request.user, pk=pk)
    if export not in ("jsonl", "csv"):
        raise Http404("Downloads are JSONL or CSV.")
    return services.dataset_version_download(version=version, user=request.user, export=export).response()
