"""Project pages: the list, create and edit, and the journey hub."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from projects import selectors, services
from projects.charters import charter_display_rows
from projects.choices import DatasetVersionStatus
from projects.current_team import resolve_current_team
from projects.forms import ProjectForm
from projects.journey import JourneyFacts, journey, project_panels, team_panels
from projects.policy import training_block_reasons
from projects.roles import Action, can, require
from projects.views.navigation import project_crumbs
from studio.errors import ApplicationError
from studio.forms import add_service_error


def _facts(*, user, project) -> JourneyFacts:
    charter = selectors.charter_latest(project=project)
    datasets = list(selectors.dataset_list_with_versions(user=user, project=project))
    return JourneyFacts(user=user, project=project, charter=charter, datasets=datasets)


def _next_step(steps: list[dict]) -> dict:
    """The one thing the page ends with: the next step's action, or what arrives next."""
    step = next((s for s in steps if s["is_next"]), None)
    if step is None:
        return {}
    text = step["warning"] or step["detail"]
    action = step["warning_action"] or step["action"]
    return {"title": action.label if action else step["label"], "text": text, "action": action}


@login_required
def project_list(request):
    team, _ = resolve_current_team(request)
    # The journey checklist lives on each project's page; the list stays one query however long it is.
    projects = (
        list(selectors.project_summary_list(user=request.user, team=team).order_by("name")) if team else []
    )
    context = {
        "team": team,
        "projects": projects,
        "can_create": team is not None and can(request.user, team, Action.EDIT_PROJECT),
        "team_panels": [
            render_to_string(panel["template"], panel["context"], request)
            for panel in (team_panels(request.user, team) if team else [])
        ],
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
    facts = _facts(user=request.user, project=project)
    charter, datasets = facts.charter, facts.datasets
    blocked = {version.dataset.pk: version for version in facts.blocked_latest_versions}
    for dataset in datasets:
        dataset.latest = next(iter(dataset.versions.all()), None)
        if dataset.latest:
            reasons = (
                blocked[dataset.pk].block_reasons
                if dataset.pk in blocked
                else training_block_reasons(dataset.latest, charter=charter)
            )
            dataset.status = DatasetVersionStatus.BLOCKED if reasons else DatasetVersionStatus.READY
            dataset.block_reasons = reasons
            dataset.fix_action = facts.fix_action(dataset.latest) if reasons else None
    steps = journey(facts)
    context = {
        "project": project,
        "charter": charter,
        "charter_fields": charter_display_rows(charter) if charter else [],
        "datasets": datasets,
        "imports_in_progress": selectors.dataset_imports_in_progress(user=request.user, project=project),
        "steps": steps,
        "steps_done": sum(step["done"] for step in steps),
        "next_step": _next_step(steps),
        "panels": [
            {"key": panel["key"], "html": render_to_string(panel["template"], panel["context"], request)}
            for panel in project_panels(facts)
        ],
        "output_schema_json": json.dumps(project.output_schema, indent=2) if project.output_schema else "",
        "can_edit": can(request.user, project.team, Action.EDIT_PROJECT),
        "can_edit_charter": can(request.user, project.team, Action.EDIT_CHARTER),
        "can_manage_datasets": can(request.user, project.team, Action.MANAGE_DATASETS),
        "breadcrumbs": [("Projects", reverse("projects:project_list")), (project.name, None)],
    }
    return render(request, "projects/project_detail.html", context)
