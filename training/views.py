"""Browser pages for training: the jobs list, the new-job form, the live job page, model versions."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.models import AuditEvent
from projects import selectors as project_selectors
from projects.current_team import resolve_current_team
from projects.journey import StepAction
from projects.roles import Action, can, require
from studio.errors import ApplicationError
from training import selectors, services, tryit
from training.charts import loss_curves_figure
from training.choices import JobStatus, ModelVersionKind
from training.forms import (
    HYPERPARAMETER_FIELDS,
    RESOLVED_SHOWN,
    JobFilterForm,
    ModelFilterForm,
    ModelVersionForm,
    TrainingJobForm,
)

PAGE_SIZE = 25
EVENTS_SHOWN = 50
POLL_INTERVAL_MS = 2000
METRIC_LABELS = {
    "accuracy": "Accuracy at the last check in training",
    "exact_match": "Exact match at the last check in training",
    "val_loss": "Validation loss",
    "train_loss": "Train loss",
    "val_examples": "Validation examples",
}
HARDWARE_LABELS = {
    "device": "Device",
    "name": "Name",
    "threads": "CPU threads",
    "dtype": "Precision",
    "dtype_chosen_by": "Precision chosen by",
}


def duration_text(seconds: float | None) -> str:
    """“45 s”, “3 min 20 s”, “1 h 05 min”: how long, in words a person reads at a glance."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 10:
        return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def metric_rows(metrics: dict) -> list[tuple[str, str]]:
    """Numeric metrics as (label, text): counts as integers, rates and losses to four decimals."""
    return [
        (
            METRIC_LABELS.get(key, key.replace("_", " ").capitalize()),
            str(value) if isinstance(value, int) else f"{value:.4f}",
        )
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def config_rows(hyperparameters: dict) -> list[tuple[str, str, object]]:
    """(label, key, value) of each hyperparameter, for includes/key_value_table.html."""
    return [
        (HYPERPARAMETER_FIELDS.get(key, (key.replace("_", " ").capitalize(),))[0], key, value)
        for key, value in hyperparameters.items()
    ]


def hardware_rows(hardware: dict) -> list[tuple[str, str]]:
    """(label, value) of the hardware facts a person reads (device, name, threads, precision)."""
    return [(label, hardware[key]) for key, label in HARDWARE_LABELS.items() if key in hardware]


def _team_projects(request):
    team, _ = resolve_current_team(request)
    projects = (
        list(project_selectors.project_list(user=request.user, team=team).order_by("name")) if team else []
    )
    return team, projects


# --- Jobs ---------------------------------------------------------------------------------------------


@login_required
def job_list(request):
    team, projects = _team_projects(request)
    filters = JobFilterForm(request.GET or None, projects=projects)
    jobs = selectors.training_job_list(user=request.user)
    jobs = jobs.filter(project__team=team) if team else jobs.none()
    if filters.is_valid():
        if filters.cleaned_data.get("project"):
            jobs = jobs.filter(project_id=filters.cleaned_data["project"])
        if filters.cleaned_data.get("status"):
            jobs = jobs.filter(status=filters.cleaned_data["status"])
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    for job in page.object_list:
        job.progress_percent = round(job.progress_fraction * 100)
    context = {
        "team": team,
        "projects": projects,
        "filters": filters,
        "filtered": any(request.GET.get(key) for key in ("project", "status")),
        "page_obj": page,
        "jobs": page.object_list,
        "can_run": team is not None and can(request.user, team, Action.RUN_JOBS),
    }
    return render(request, "training/job_list.html", context)


@login_required
def job_create(request):
    team, projects = _team_projects(request)
    chosen = request.POST.get("project") or request.GET.get("project")
    if chosen:
        project = project_selectors.project_get(user=request.user, pk=chosen)
        if project.team_id != getattr(team, "pk", None):
            team = project.team
            projects = list(project_selectors.project_list(user=request.user, team=team).order_by("name"))
    elif projects:
        project = projects[0]
    else:
        project = None
    if team is None:
        return redirect("training:job_list")
    require(request.user, team, Action.RUN_JOBS)
    context = {
        "team": team,
        "project": project,
        "breadcrumbs": [("Jobs", reverse("training:job_list")), ("New training job", None)],
    }
    if project is None:
        return render(request, "training/job_form.html", context)

    form = TrainingJobForm(
        request.POST or None,
        user=request.user,
        project=project,
        projects=projects,
        base_models=selectors.base_model_list(user=request.user),
        preselect=request.GET.get("dataset_version"),
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = services.training_job_create(
                project=project,
                user=request.user,
                dataset_version=form.cleaned_data["dataset_version"],
                base_model=form.cleaned_data["base_model"],
                method=form.cleaned_data["method"],
                preset=form.cleaned_data["preset"],
                hyperparameters=form.hyperparameter_overrides() or None,
            )
        except ApplicationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Job #{job.pk} queued. This page follows it live.")
            return redirect("training:job_detail", pk=job.pk)
    context |= {
        "form": form,
        "preset_settings": {
            "labels": {key: HYPERPARAMETER_FIELDS[key][0] for key in RESOLVED_SHOWN},
            "versions": form.resolved_presets(),
        },
        "blocked_versions": [(form.versions[pk], reasons) for pk, reasons in form.blocked.items()],
        "can_upload": can(request.user, team, Action.MANAGE_DATASETS),
    }
    return render(request, "training/job_form.html", context)


def _job_crumbs(job, *rest) -> list:
    return [("Jobs", reverse("training:job_list")), (f"Job #{job.pk}", None), *rest]


@login_required
def job_detail(request, pk: int):
    job = selectors.training_job_get(user=request.user, pk=pk)
    events_count = job.events.count()
    events = list(job.events.order_by("-created_at", "-id")[:EVENTS_SHOWN])
    context = {
        "job": job,
        "project": job.project,
        "model_version": getattr(job, "model_version", None),
        "events": events,
        "events_count": events_count,
        "loss_figure": loss_curves_figure(job.metric_points.all()).to_json(),
        "progress_percent": round(job.progress_fraction * 100),
        "eta_text": duration_text(job.eta_seconds) if job.status == JobStatus.RUNNING else "",
        "hyperparameters": config_rows(job.hyperparameters),
        "hardware": hardware_rows(job.hardware),
        "metrics": metric_rows(job.metrics),
        "can_run": can(request.user, job.project.team, Action.RUN_JOBS),
        "poll_interval_ms": POLL_INTERVAL_MS,
        "job_statuses": JobStatus.display(),
        "breadcrumbs": _job_crumbs(job),
    }
    return render(request, "training/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request, pk: int):
    job = selectors.training_job_get(user=request.user, pk=pk)
    job = services.training_job_cancel(job=job, user=request.user)
    if job.status == JobStatus.CANCELLED:
        messages.success(request, f"Job #{job.pk} cancelled before it started.")
    else:
        messages.info(request, f"Cancellation requested: job #{job.pk} stops at its next step.")
    return redirect("training:job_detail", pk=job.pk)


@login_required
@require_POST
def job_retry(request, pk: int):
    job = selectors.training_job_get(user=request.user, pk=pk)
    retry = services.training_job_retry(job=job, user=request.user)
    messages.success(request, f"Job #{retry.pk} queued with the same data and configuration as #{job.pk}.")
    return redirect("training:job_detail", pk=retry.pk)


# --- Model versions -----------------------------------------------------------------------------------


@login_required
def model_list(request):
    team, projects = _team_projects(request)
    filters = ModelFilterForm(request.GET or None, projects=projects)
    versions = selectors.model_version_list(user=request.user).select_related("training_job")
    versions = versions.filter(project__team=team) if team else versions.none()
    if filters.is_valid() and filters.cleaned_data.get("project"):
        versions = versions.filter(project_id=filters.cleaned_data["project"])
    versions = versions.order_by("-created_at", "-id")
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "team": team,
        "projects": projects,
        "filters": filters,
        "page_obj": page,
        "versions": page.object_list,
    }
    return render(request, "training/model_list.html", context)


SMALL_SAMPLE = 30


def _model_next_step(version) -> dict:
    if version.kind == ModelVersionKind.BASELINE:
        return {
            "title": "Train a model that beats it",
            "text": "The baseline is what the base model does without training; a fine-tuned version shows "
            "its lift over it.",
            "action": StepAction(
                "Open the project", reverse("projects:project_detail", args=[version.project_id])
            ),
        }
    return {
        "title": "Evaluate it before it serves anyone",
        "text": "Run it against the project's signed eval spec (try it above first if you like): "
        "approval and serving follow from that run.",
        "action": StepAction(
            f"Evaluate {version.label}",
            reverse("evaluation:project_evaluation", args=[version.project_id]) + f"?version={version.pk}",
        ),
    }


def worth(version) -> dict | None:
    """What the page says a fine-tuned version is worth: its validation score with the sample size (and
    a caveat when small), the baseline on the same examples and the lift, and per-label results."""
    score = version.validation_score
    if score is None:
        return None
    assessment = version.metrics.get("assessment") or {}
    validation = assessment.get("validation") or {}
    comparison = assessment.get("comparison")
    examples = score.examples
    per_label = [
        {
            "label": label,
            **row,
            "recall_percent": None if row["recall"] is None else round(row["recall"] * 100),
        }
        for label, row in (validation.get("per_label") or {}).items()
    ]
    baseline = assessment.get("baseline") or {}
    return {
        "metric_label": score.metric_label,
        "score": score.value,
        "examples": examples,
        "small": bool(examples) and examples < SMALL_SAMPLE,
        "one_answer_points": round(100 / examples, 1) if examples else None,
        "comparison": comparison,
        "lift_points": round(comparison["lift"] * 100, 1) if comparison else None,
        "baseline_pk": baseline.get("model_version"),
        "baseline_number": baseline.get("number"),
        "per_label": per_label,
    }


MERGED_EXPORT_PATIENCE = timedelta(hours=1)


def _merged_export_requested(version) -> bool:
    """Whether someone asked for the merged weights recently (the page then follows the export)."""
    since = timezone.now() - MERGED_EXPORT_PATIENCE
    return AuditEvent.objects.filter(
        action="model_version.export_merged", target_id=str(version.pk), occurred_at__gte=since
    ).exists()


@login_required
def model_detail(request, pk: int):
    version = selectors.model_version_get(user=request.user, pk=pk)
    can_edit = can(request.user, version.project.team, Action.RUN_JOBS)
    initial = {"description": version.description, "tags": ", ".join(version.tags)}
    form = ModelVersionForm(request.POST or None, initial=initial)
    if request.method == "POST":
        require(request.user, version.project.team, Action.RUN_JOBS)
        if form.is_valid():
            services.model_version_update(version=version, user=request.user, **form.cleaned_data)
            messages.success(request, "Description and tags saved.")
            return redirect("training:model_detail", pk=version.pk)
    lineage = version.lineage or {}
    durations = lineage.get("durations") or {}
    merged_ready = bool(version.merged_dir and version.merged_dir.exists())
    context = {
        "version": version,
        "project": version.project,
        "is_baseline": version.kind == ModelVersionKind.BASELINE,
        "lineage": lineage,
        "durations": [
            (label, duration_text(durations.get(key)))
            for key, label in (
                ("queued_seconds", "Queued"),
                ("training_seconds", "Training"),
                ("total_seconds", "Total on the worker"),
            )
            if durations.get(key) is not None
        ],
        "config_rows": config_rows(lineage.get("config") or {}),
        "metrics": metric_rows(version.metrics),
        "worth": None if version.kind == ModelVersionKind.BASELINE else worth(version),
        "try_url": reverse("training:model_try", args=[version.pk])
        if version.kind == ModelVersionKind.BASELINE or version.artifacts
        else "",
        "try_max_chars": tryit.MAX_INPUT_CHARS,
        "try_example": (version.sample_predictions or [{}])[0].get("input", ""),
        "next_step": _model_next_step(version),
        "hardware": hardware_rows(lineage.get("hardware") or {}),
        "few_shot_examples": version.training_config.get("few_shot_examples", [])
        if version.kind == ModelVersionKind.BASELINE
        else [],
        "artifacts_total": sum(artifact.get("size", 0) for artifact in version.artifacts),
        "merged_ready": merged_ready,
        "merged_pending": not merged_ready and _merged_export_requested(version),
        "can_edit": can_edit,
        "form": form,
        "breadcrumbs": [
            ("Models", reverse("training:model_list")),
            (f"{version.project.name} {version.label}", None),
        ],
    }
    return render(request, "training/model_detail.html", context)


@login_required
@require_POST
def model_try(request, pk: int):
    """Queue one "Try it" answer (any member may, viewers included); the page polls `poll_url`."""
    version = selectors.model_version_get(user=request.user, pk=pk)
    task_id = tryit.try_start(request=request, version=version, text=request.POST.get("input", ""))
    poll_url = reverse("training:model_try_poll", args=[version.pk, task_id])
    return JsonResponse({"status": "pending", "poll_url": poll_url}, status=202)


@login_required
def model_try_poll(request, pk: int, task_id):
    version = selectors.model_version_get(user=request.user, pk=pk)
    return JsonResponse(tryit.try_poll(request=request, version=version, task_id=str(task_id)))


@login_required
def model_download(request, pk: int, artifact: str = "adapter"):
    version = selectors.model_version_get(user=request.user, pk=pk)
    return services.model_version_download(version=version, user=request.user, artifact=artifact).response()


@login_required
@require_POST
def model_export_merged(request, pk: int):
    version = selectors.model_version_get(user=request.user, pk=pk)
    ready = services.model_version_request_merged_export(version=version, user=request.user)
    messages.success(
        request,
        "The merged weights are ready to download."
        if ready
        else "A worker is merging the adapter into the base weights; the download appears when it is ready.",
    )
    return redirect("training:model_detail", pk=version.pk)
