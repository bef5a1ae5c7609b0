"""Project pages: the list, create and edit, and the journey hub."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse

from projects import selectors, services
from projects.charters import charter_display_rows
from projects.choices import DatasetKind, DatasetVersionStatus
from projects.current_team import resolve_current_team
from projects.forms import (
    ProjectForm,
)
from projects.policy import training_block_reasons
from projects.roles import Action, can, require
from projects.views.navigation import project_crumbs
from studio.errors import ApplicationError
from studio.forms import add_service_error

JOURNEY = (
    ("charter", "Charter", "Problem, data classes, risk appetite and success measures."),
    ("dataset", "Dataset", "Labelled examples, validated, scanned for PII and split."),
    ("eval_spec", "Eval spec", "The test set, metrics and gates a model must pass."),
    ("model", "Model", "A fine-tuned model version from a training job."),
    ("evaluation", "Evaluation", "The candidate measured against the eval spec."),
    ("approval", "Approval", "Four-eyes review before production."),
    ("endpoint", "Endpoint", "An API that serves the approved model."),
)


def _journey(*, request, project, charter, datasets) -> list[dict]:
    """The hub's checklist: each step done or not, and where to go for it. Steps whose pages arrive in a
    later release are marked `upcoming` and link nowhere (the model step links to the jobs list)."""
    user, team = request.user, project.team
    has_data = any(d.versions.all() for d in datasets if d.kind == DatasetKind.TRAINING)
    steps = []
    for key, label, text in JOURNEY:
        step = {"key": key, "label": label, "text": text, "done": False, "upcoming": False, "url": None}
        if key == "charter":
            step["done"] = charter is not None
            step["detail"] = f"v{charter.version} by {charter.author}" if charter else "Not written yet"
            if can(user, team, Action.EDIT_CHARTER):
                step["url"] = reverse("projects:charter_edit", args=[project.pk])
                step["action"] = "Edit the charter" if charter else "Write the charter"
            elif charter:
                step["url"], step["action"] = (
                    reverse("projects:charter_history", args=[project.pk]),
                    "Read it",
                )
        elif key == "dataset":
            step["done"] = has_data
            count = len(datasets)
            step["detail"] = f"{count} dataset{pluralize(count)}" if count else "No data yet"
            if can(user, team, Action.MANAGE_DATASETS):
                step["url"] = reverse("projects:dataset_upload", args=[project.pk])
                step["action"] = "Upload a dataset" if not has_data else "Upload another"
        else:
            step["upcoming"] = True
            step["detail"] = "Coming next"
            if key == "model":
                step["url"], step["action"] = reverse("training:job_list"), "Training jobs"
        steps.append(step)
    next_step = next((s for s in steps if not s["done"] and not s["upcoming"]), None)
    for step in steps:
        step["is_next"] = step is next_step
    return steps


@login_required
def project_list(request):
    team, _ = resolve_current_team(request)
    projects = list(selectors.project_progress_list(user=request.user, team=team)) if team else []
    for project in projects:
        project.steps_done = int(project.charter_count > 0) + int(project.dataset_count > 0)
        project.steps_total = len(JOURNEY)
    context = {
        "team": team,
        "projects": projects,
        "can_create": team is not None and can(request.user, team, Action.EDIT_PROJECT),
    }
    return render(request, "projects/project_list.html", context)


@login_required
def project_create(request):
    team, _ = resolve_current_team(request)
    if team is None:
        return redirect("projects:project_list")
    require(request.user, team, Action.EDIT_PROJECT)
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(team=team, user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created. Next: write its charter.")
            return redirect("projects:project_detail", pk=project.pk)
    context = {
        "form": form,
        "team": team,
        "breadcrumbs": [("Projects", reverse("projects:project_list")), ("New project", None)],
    }
    return render(request, "projects/project_form.html", context)


@login_required
def project_edit(request, pk: int):
    project = selectors.project_get(user=request.user, pk=pk)
    require(request.user, project.team, Action.EDIT_PROJECT)
    initial = ProjectForm.initial_for(project)
    form = ProjectForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k != "task_type"}
        try:
            services.project_update(project=project, user=request.user, **changes)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Project saved.")
            return redirect("projects:project_detail", pk=project.pk)
    context = {"form": form, "project": project, "breadcrumbs": project_crumbs(project, "Edit")}
    return render(request, "projects/project_form.html", context)


@login_required
def project_detail(request, pk: int):
    project = selectors.project_get(user=request.user, pk=pk)
    charter = selectors.charter_latest(project=project)
    datasets = list(selectors.dataset_list_with_versions(user=request.user, project=project))
    for dataset in datasets:
        dataset.latest = next(iter(dataset.versions.all()), None)
        if dataset.latest:
            blocked = training_block_reasons(dataset.latest, charter=charter)
            dataset.status = DatasetVersionStatus.BLOCKED if blocked else DatasetVersionStatus.READY
    steps = _journey(request=request, project=project, charter=charter, datasets=datasets)
    context = {
        "project": project,
        "charter": charter,
        "charter_fields": charter_display_rows(charter) if charter else [],
        "datasets": datasets,
        "steps": steps,
        "steps_done": sum(step["done"] for step in steps),
        "output_schema_json": json.dumps(project.output_schema, indent=2) if project.output_schema else "",
        "can_edit": can(request.user, project.team, Action.EDIT_PROJECT),
        "can_edit_charter": can(request.user, project.team, Action.EDIT_CHARTER),
        "can_manage_datasets": can(request.user, project.team, Action.MANAGE_DATASETS),
        "breadcrumbs": [("Projects", reverse("projects:project_list")), (project.name, None)],
    }
    return render(request, "projects/project_detail.html", context)
