"""The project's journey checklist: one registry of steps, each with the condition that makes it done and
the one next action a person should take.

The journey runs charter → dataset → eval spec → model → evaluation → approval → endpoint. This app
states the whole path and computes the steps it owns (charter, dataset); an app further along the path
(training, evaluation, governance, serving) registers its own step under the same key in its
`AppConfig.ready()`, replacing the placeholder, so this module never imports the apps that build on it.
Until then a placeholder reads "Coming next".

The project page may also show panels contributed the same way (`register_panel`): training lists the
project's jobs and model versions there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from django.template.defaultfilters import pluralize
from django.urls import reverse

from projects.choices import DatasetKind
from projects.policy import training_block_reasons
from projects.roles import Action, can


@dataclass
class StepAction:
    """A button: a link (GET) or a form (POST, e.g. "Redact personal data")."""

    label: str
    url: str
    method: str = "get"
    confirm: str = ""


@dataclass
class StepState:
    """Where a project stands on one step: done or not, a one-line detail, a warning and the next action."""

    done: bool
    detail: str
    action: StepAction | None = None
    warning: str = ""
    warning_action: StepAction | None = None


@dataclass(frozen=True)
class JourneyStep:
    key: str
    label: str
    text: str
    order: int
    state: Callable[[JourneyFacts], StepState] | None = None  # None: arrives in a later release


@dataclass(frozen=True)
class ProjectPanel:
    """A card on the project page: `context(facts)` returns the template's context, or None to hide it."""

    key: str
    order: int
    template: str
    context: Callable[[JourneyFacts], dict | None]


@dataclass(frozen=True)
class TeamPanel:
    """A card on the team's home (the project list): `context(user, team)` returns the template's context,
    or None to hide it. Registered like project panels, by the apps further along the path."""

    key: str
    order: int
    template: str
    context: Callable[[object, object], dict | None]


def train_job_url(project, version=None) -> str:
    """The new-job form for `project` with `version` preselected (the training app's page, by name)."""
    query = {"project": project.pk} | ({"dataset_version": version.pk} if version else {})
    return f"{reverse('training:job_create')}?{urlencode(query)}"


_STEPS: dict[str, JourneyStep] = {}
_PANELS: dict[str, ProjectPanel] = {}
_TEAM_PANELS: dict[str, TeamPanel] = {}


def register_step(step: JourneyStep) -> None:
    """Add a step, or replace the step (or placeholder) registered under the same key."""
    _STEPS[step.key] = step


def register_panel(panel: ProjectPanel) -> None:
    _PANELS[panel.key] = panel


def register_team_panel(panel: TeamPanel) -> None:
    _TEAM_PANELS[panel.key] = panel


def journey_steps() -> list[JourneyStep]:
    return sorted(_STEPS.values(), key=lambda step: step.order)


@dataclass
class JourneyFacts:
    """What the steps read about one project for one person, each fact computed once per page.

    `datasets` are the project's datasets with their versions prefetched newest first; steps of other
    apps keep what they compute in `extra` (keyed by app) so two of them never query twice."""

    user: object
    project: object
    charter: object
    datasets: list
    extra: dict = field(default_factory=dict)

    def can(self, action: Action) -> bool:
        return can(self.user, self.project.team, action)

    @cached_property
    def training_versions(self) -> list:
        """Every version of the project's training datasets with its block reasons (`version.block_reasons`),
        newest first within each dataset."""
        versions = []
        for dataset in self.datasets:
            if dataset.kind != DatasetKind.TRAINING:
                continue
            for version in dataset.versions.all():
                version.dataset = dataset
                version.block_reasons = training_block_reasons(version, charter=self.charter)
                versions.append(version)
        return versions

    @cached_property
    def trainable_versions(self) -> list:
        """Versions a job may start from now: validated, allowed by the charter, within retention."""
        return [version for version in self.training_versions if not version.block_reasons]

    @cached_property
    def blocked_latest_versions(self) -> list:
        """The newest version of each training dataset, where it is blocked (what a person must fix)."""
        latest = {}
        for version in self.training_versions:
            latest.setdefault(version.dataset.pk, version)
        return [version for version in latest.values() if version.block_reasons]

    def fix_action(self, version) -> StepAction | None:
        """The one action that unblocks `version`: redact its personal data, or write/change the charter."""
        if version.pii_summary and self.can(Action.MANAGE_DATASETS):
            total = sum(version.pii_summary.values())
            return StepAction(
                "Redact personal data",
                reverse("projects:dataset_version_redact", args=[version.pk]),
                method="post",
                confirm=f"Create a new version of {version.dataset.name} with its {total} personal-data "
                f"finding{pluralize(total)} replaced by typed placeholders? This version stays as it is.",
            )
        if self.can(Action.EDIT_CHARTER):
            label = "Change the charter" if self.charter else "Write the charter"
            return StepAction(label, reverse("projects:charter_edit", args=[self.project.pk]))
        return None


def _charter_state(facts: JourneyFacts) -> StepState:
    charter = facts.charter
    state = StepState(
        done=charter is not None,
        detail=f"v{charter.version} by {charter.author}" if charter else "Not written yet",
    )
    if facts.can(Action.EDIT_CHARTER):
        label = "Edit the charter" if charter else "Write the charter"
        state.action = StepAction(label, reverse("projects:charter_edit", args=[facts.project.pk]))
    elif charter:
        state.action = StepAction("Read it", reverse("projects:charter_history", args=[facts.project.pk]))
    return state


def _dataset_state(facts: JourneyFacts) -> StepState:
    """Done only when some training dataset version can actually be trained on."""
    project = facts.project
    trainable = facts.trainable_versions
    count = sum(1 for dataset in facts.datasets if dataset.kind == DatasetKind.TRAINING)
    if trainable:
        best = trainable[0]
        detail = f"{best.dataset.name} v{best.number} is ready ({best.row_count} rows)"
    elif count:
        detail = f"{count} training dataset{pluralize(count)}, none ready to train on"
    else:
        detail = "No training data yet"
    state = StepState(done=bool(trainable), detail=detail)
    blocked = facts.blocked_latest_versions
    if blocked:
        version = blocked[0]
        state.warning = f"{version.dataset.name} v{version.number} is blocked: {version.block_reasons[0]}"
        state.warning_action = facts.fix_action(version)
    if facts.can(Action.MANAGE_DATASETS):
        url = reverse("projects:dataset_upload", args=[project.pk])
        state.action = StepAction("Upload another dataset" if trainable else "Upload a dataset", url)
    return state


for _order, (_key, _label, _text, _state) in enumerate(
    (
        ("charter", "Charter", "Problem, data classes, risk appetite and success measures.", _charter_state),
        ("dataset", "Dataset", "Labelled examples, validated, scanned for PII and split.", _dataset_state),
        ("eval_spec", "Eval spec", "The test set, metrics and gates a model must pass.", None),
        ("model", "Model", "A fine-tuned model version from a training job.", None),
        ("evaluation", "Evaluation", "The candidate measured against the eval spec.", None),
        ("approval", "Approval", "Four-eyes review before production.", None),
        ("endpoint", "Endpoint", "An API that serves the approved model.", None),
    )
):
    register_step(JourneyStep(key=_key, label=_label, text=_text, order=(_order + 1) * 10, state=_state))


def journey(facts: JourneyFacts) -> list[dict]:
    """The checklist for the project page: each step with its state, and which one is the next to take."""
    steps = []
    for step in journey_steps():
        state = step.state(facts) if step.state else None
        steps.append(
            {
                "key": step.key,
                "label": step.label,
                "text": step.text,
                "upcoming": state is None,
                "done": bool(state and state.done),
                "detail": state.detail if state else "Coming next",
                "action": state.action if state else None,
                "warning": state.warning if state else "",
                "warning_action": state.warning_action if state else None,
            }
        )
    next_step = next((s for s in steps if not s["done"] and not s["upcoming"]), None)
    for step in steps:
        step["is_next"] = step is next_step
    return steps


def project_panels(facts: JourneyFacts) -> list[dict]:
    """The contributed cards of the project page, in order: [{"key", "template", "context"}]."""
    panels = []
    for panel in sorted(_PANELS.values(), key=lambda panel: panel.order):
        context = panel.context(facts)
        if context is not None:
            panels.append({"key": panel.key, "template": panel.template, "context": context})
    return panels


def team_panels(user, team) -> list[dict]:
    """The contributed cards of the team's home, in order: [{"key", "template", "context"}]."""
    panels = []
    for panel in sorted(_TEAM_PANELS.values(), key=lambda panel: panel.order):
        context = panel.context(user, team)
        if context is not None:
            panels.append({"key": panel.key, "template": panel.template, "context": context})
    return panels
