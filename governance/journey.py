"""Governance's part of the project journey (`projects.journey`): the Approval step. Registered in
`GovernanceConfig.ready()`."""

from __future__ import annotations

from django.urls import reverse

from evaluation.choices import RunStatus
from evaluation.models import EvalRun
from governance import selectors
from governance.choices import PromotionStatus
from projects.journey import JourneyFacts, JourneyStep, StepAction, StepState
from projects.roles import Action
from training.choices import ModelVersionKind


def _approval_state(facts: JourneyFacts) -> StepState:
    """Done once a version is in production; before that, the pending request and who it waits for, or the
    request to make for the newest evaluated version."""
    project = facts.project
    production = selectors.production_version(project)
    if production is not None:
        return StepState(
            done=True,
            detail=f"v{production.number} is in production",
            action=StepAction(
                "Releases and rollback", reverse("governance:project_releases", args=[project.pk])
            ),
        )
    pending = (
        selectors.promotion_list(user=facts.user, project=project)
        .filter(status=PromotionStatus.PENDING)
        .order_by("-pk")
        .first()
    )
    if pending is not None:
        return StepState(
            done=False,
            detail=f"Request #{pending.pk} for v{pending.model_version.number} waits for: "
            + ", ".join(pending.missing_role_labels()),
            action=StepAction(
                f"Open request #{pending.pk}", reverse("governance:promotion_detail", args=[pending.pk])
            ),
        )
    evaluated = (
        EvalRun.objects.for_user(facts.user)
        .filter(project=project, status=RunStatus.SUCCEEDED, model_version__kind=ModelVersionKind.FINE_TUNED)
        .select_related("model_version")
        .order_by("-model_version__number")
        .first()
    )
    if evaluated is None:
        return StepState(done=False, detail="Needs an evaluated model version")
    version = evaluated.model_version
    state = StepState(done=False, detail=f"v{version.number} is evaluated, not yet requested")
    if facts.can(Action.REQUEST_PROMOTION):
        state.action = StepAction(
            f"Request promotion of v{version.number}",
            reverse("governance:model_governance", args=[version.pk]),
        )
    return state


def register() -> None:
    from projects.journey import register_step

    register_step(
        JourneyStep(
            key="approval",
            label="Approval",
            text="Four-eyes review before production.",
            order=60,
            state=_approval_state,
        )
    )
