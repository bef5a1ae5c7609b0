"""Reads for the evaluation app, always given the acting user (None only for trusted internal callers
such as governance's promotion checks, which scope by the object they already hold)."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from evaluation.choices import RunStatus
from evaluation.models import EvalResult, EvalRun, EvalSpec
from projects.models import Project
from studio.errors import Conflict, InvalidInput
from studio.tenancy import get_for_user
from training.choices import ModelVersionKind, Stage
from training.models import ModelVersion


def eval_spec_list(*, user, project: Project | None = None) -> QuerySet[EvalSpec]:
    specs = EvalSpec.objects.for_user(user).select_related("project__team", "created_by", "signed_by")
    return specs.filter(project=project) if project is not None else specs


def eval_spec_get(*, user, pk) -> EvalSpec:
    return get_for_user(eval_spec_list(user=user), user, pk=pk)


def eval_spec_current_signed(project: Project) -> EvalSpec | None:
    """The highest signed spec version of the project: the one that gates its promotions."""
    return EvalSpec.objects.filter(project=project, signed_at__isnull=False).order_by("-version").first()


def eval_run_list(*, user) -> QuerySet[EvalRun]:
    return EvalRun.objects.for_user(user).select_related(
        "project__team", "spec", "model_version", "created_by"
    )


def eval_run_get(*, user, pk) -> EvalRun:
    return get_for_user(eval_run_list(user=user), user, pk=pk)


def eval_run_latest(user, model_version: ModelVersion, spec: EvalSpec) -> EvalRun | None:
    """The most recent succeeded run of `model_version` against `spec`; `user` None skips tenancy (for
    services that already hold both objects)."""
    runs = EvalRun.objects.all() if user is None else EvalRun.objects.for_user(user)
    return (
        runs.filter(model_version=model_version, spec=spec, status=RunStatus.SUCCEEDED)
        .select_related("spec", "model_version")
        .order_by("-finished_at", "-id")
        .first()
    )


RESULT_FILTERS = ("layer", "slice", "correct")


def eval_result_list(*, run: EvalRun, layer: str | None = None, slice: str | None = None, correct=None):
    """A run's results in case order, narrowed by layer, slice key and correctness (True/False/None for
    "no expected answer"); `run` was already fetched for the user."""
    results = EvalResult.objects.filter(run=run)
    if layer:
        results = results.filter(layer=layer)
    if slice:
        if "|" in slice:
            raise InvalidInput("A slice key has no “|”.", details={"slice": ["Not a slice key."]})
        results = results.filter(slices__contains=f"|{slice}|")
    if correct is not None:
        results = (
            results.filter(correct__isnull=True) if correct == "none" else results.filter(correct=correct)
        )
    return results.order_by("index")


def leaderboard(
    *, user, project: Project, spec: EvalSpec | None
) -> list[tuple[ModelVersion, EvalRun | None]]:
    """Every model version of the project with its latest succeeded run against `spec`, newest version
    first: two queries whatever the number of versions."""
    versions = ModelVersion.objects.for_user(user).filter(project=project).select_related("base_model")
    if spec is None:
        return [(version, None) for version in versions]
    latest = (
        EvalRun.objects.filter(model_version=OuterRef("pk"), spec=spec, status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .values("pk")[:1]
    )
    versions = list(versions.annotate(latest_run_id=Subquery(latest)))
    runs = EvalRun.objects.in_bulk([v.latest_run_id for v in versions if v.latest_run_id])
    return [(version, runs.get(version.latest_run_id)) for version in versions]


def comparison_default_reference(*, user, candidate: ModelVersion) -> ModelVersion:
    """What a candidate is compared with by default: the production version, else the baseline."""
    others = ModelVersion.objects.for_user(user).filter(project=candidate.project_id).exclude(pk=candidate.pk)
    reference = (
        others.filter(stage=Stage.PRODUCTION).first() or others.filter(kind=ModelVersionKind.BASELINE).first()
    )
    if reference is None:
        raise Conflict(
            "There is no production version or baseline to compare with; name one with ?against=.",
            code="no_reference",
        )
    return reference


def eval_runs_with_results(*, user, pks: list[int]) -> list[EvalRun]:
    """Runs with all their results, in two queries (the compare page)."""
    return list(
        eval_run_list(user=user)
        .filter(pk__in=pks)
        .prefetch_related(Prefetch("results", queryset=EvalResult.objects.order_by("index")))
    )
