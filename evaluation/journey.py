"""Evaluation's part of the project journey (`projects.journey`): the Eval spec and Evaluation steps.
Registered in `EvaluationConfig.ready()`."""

from __future__ import annotations

from django.urls import reverse

from evaluation.choices import RunStatus
from evaluation.models import EvalRun, EvalSpec
from projects.journey import JourneyFacts, JourneyStep, StepAction, StepState
from projects.roles import Action
from training.choices import ModelVersionKind
from training.models import ModelVersion


def _evaluation(facts: JourneyFacts) -> dict:
    """The project's newest spec and its trained versions' newest run (the baseline's runs are the
    reference the trained ones are compared with, not the step's outcome), read once per page."""
    if "evaluation" not in facts.extra:
        project = facts.project
        trained = ModelVersion.objects.filter(project=project).exclude(kind=ModelVersionKind.BASELINE)
        facts.extra["evaluation"] = {
            "spec": EvalSpec.objects.filter(project=project)
            .select_related("signed_by")
            .order_by("-version")
            .first(),
            "run": EvalRun.objects.filter(project=project)
            .exclude(model_version__kind=ModelVersionKind.BASELINE)
            .select_related("model_version")
            .order_by("-id")
            .first(),
            "trained": trained.exists(),
        }
    return facts.extra["evaluation"]


def _hub(facts: JourneyFacts) -> str:
    return reverse("evaluation:project_evaluation", args=[facts.project.pk])


def _spec_state(facts: JourneyFacts) -> StepState:
    """Done once a spec version is signed (only a signed spec runs and gates)."""
    spec = _evaluation(facts)["spec"]
    if spec is None:
        state = StepState(done=False, detail="Not written yet")
        if facts.can(Action.EDIT_EVAL_SPEC):
            state.action = StepAction(
                "Write the eval spec", reverse("evaluation:spec_create", args=[facts.project.pk])
            )
        return state
    url = reverse("evaluation:spec_detail", args=[spec.pk])
    if not spec.is_signed:
        label = "Read and sign it" if facts.can(Action.SIGN_EVAL_SPEC) else "Read it"
        return StepState(
            done=False, detail=f"v{spec.version} waits for a signature", action=StepAction(label, url)
        )
    return StepState(
        done=True,
        detail=f"v{spec.version} signed by {spec.signed_by}",
        action=StepAction("Open the evaluation page", _hub(facts)),
    )


def _evaluation_state(facts: JourneyFacts) -> StepState:
    """Done once a run has succeeded; shows the latest run's gate verdict."""
    evaluation = _evaluation(facts)
    run = evaluation["run"]
    if run is None and not evaluation["trained"]:
        return StepState(done=False, detail="Needs a trained model version")
    if run is None:
        state = StepState(done=False, detail="No trained version evaluated yet")
        if facts.can(Action.RUN_EVALS):
            state.action = StepAction("Run an evaluation", _hub(facts))
        return state
    url = reverse("evaluation:run_detail", args=[run.pk])
    if run.status != RunStatus.SUCCEEDED:
        return StepState(
            done=False,
            detail=f"Run #{run.pk} of v{run.model_version.number}: {run.get_status_display().lower()}",
            action=StepAction(f"Open run #{run.pk}", url),
        )
    verdict = "gates passed" if run.gates_passed else "gates failed"
    return StepState(
        done=True,
        detail=f"v{run.model_version.number}: {verdict}",
        action=StepAction("Compare versions", reverse("evaluation:compare", args=[run.model_version_id])),
    )


def register() -> None:
    from projects.journey import register_step

    register_step(
        JourneyStep(
            key="eval_spec",
            label="Eval spec",
            text="The test set, metrics and gates a model must pass.",
            order=30,
            state=_spec_state,
        )
    )
    register_step(
        JourneyStep(
            key="evaluation",
            label="Evaluation",
            text="The candidate measured against the eval spec.",
            order=50,
            state=_evaluation_state,
        )
    )
