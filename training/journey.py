"""Training's part of the project journey (`projects.journey`): the Model step and the project page's
panel of jobs and model versions. Registered in `TrainingConfig.ready()`."""

from __future__ import annotations

from django.urls import reverse

from projects.journey import JourneyFacts, JourneyStep, ProjectPanel, StepAction, StepState, train_job_url
from projects.roles import Action
from training import selectors
from training.choices import JobStatus, ModelVersionKind

PANEL_ROWS = 5


def _training(facts: JourneyFacts) -> dict:
    """The project's recent jobs and model versions, read once per page for the step and the panel."""
    if "training" not in facts.extra:
        project = facts.project
        project_jobs = selectors.training_job_list(user=facts.user).filter(project=project)
        project_versions = selectors.model_version_list(user=facts.user).filter(project=project)
        jobs = list(project_jobs.order_by("-created_at", "-id")[:PANEL_ROWS])
        versions = list(project_versions.order_by("-number")[:PANEL_ROWS])
        fine_tuned = project_versions.filter(kind=ModelVersionKind.FINE_TUNED).order_by("-number").first()
        for job in jobs:
            job.progress_percent = round(job.progress_fraction * 100)
        facts.extra["training"] = {
            "jobs": jobs,
            "job_count": project_jobs.count(),
            "versions": versions,
            "latest_fine_tuned": fine_tuned,
        }
    return facts.extra["training"]


def _model_state(facts: JourneyFacts) -> StepState:
    """Done once a fine-tuned model version exists (the baseline alone does not count)."""
    training = _training(facts)
    model = training["latest_fine_tuned"]
    can_run = facts.can(Action.RUN_JOBS)
    trainable = facts.trainable_versions
    active = next((job for job in training["jobs"] if not job.is_terminal), None)
    if model is not None:
        score = model.validation_score
        detail = f"v{model.number}" + (f" · {score.metric_label.lower()} {score.value:.0%}" if score else "")
        state = StepState(done=True, detail=detail)
        state.action = StepAction(
            f"Open model v{model.number}", reverse("training:model_detail", args=[model.pk])
        )
        return state
    if active is not None:
        detail = f"Job #{active.pk} {active.get_status_display().lower()}"
        if active.status == JobStatus.RUNNING:
            detail += f", {active.progress_percent}%"
        return StepState(
            done=False,
            detail=detail,
            action=StepAction(f"Follow job #{active.pk}", reverse("training:job_detail", args=[active.pk])),
        )
    last = training["jobs"][0] if training["jobs"] else None
    if not trainable:
        detail = "Needs a dataset version that can be trained on"
        return StepState(done=False, detail=detail)
    detail = "No fine-tuned model yet"
    if last is not None and last.status == JobStatus.FAILED:
        detail = f"Job #{last.pk} failed: {last.failure_reason}" if last.failure_reason else detail
    state = StepState(done=False, detail=detail)
    if can_run:
        version = trainable[0]
        state.action = StepAction(
            f"Train a model on {version.dataset.name} v{version.number}",
            train_job_url(facts.project, version),
        )
    return state


def _panel_context(facts: JourneyFacts) -> dict:
    training = _training(facts)
    trainable = facts.trainable_versions
    return {
        "project": facts.project,
        "jobs": training["jobs"],
        "job_count": training["job_count"],
        "versions": training["versions"],
        "can_run": facts.can(Action.RUN_JOBS),
        "train_url": train_job_url(facts.project, trainable[0]) if trainable else "",
        "has_trainable": bool(trainable),
    }


def register() -> None:
    from projects.journey import register_panel, register_step

    register_step(
        JourneyStep(
            key="model",
            label="Model",
            text="A fine-tuned model version from a training job.",
            order=40,
            state=_model_state,
        )
    )
    register_panel(
        ProjectPanel(
            key="training",
            order=10,
            template="training/includes/project_training_panel.html",
            context=_panel_context,
        )
    )
