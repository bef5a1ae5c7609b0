"""Browser pages for evaluation: a project's evaluation hub (spec versions, runs, leaderboard with charts),
the spec form and page (sign), the run page (live progress, gates, charts, per-example results) and the
comparison of two model versions with the one-page release diff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from evaluation import charts, selectors, services
from evaluation.choices import Layer
from evaluation.forms import EvalRunForm, EvalSpecForm
from evaluation.metrics import metrics_for_task
from evaluation.schemas import Layers
from projects import selectors as project_selectors
from projects.journey import StepAction
from projects.models import DatasetVersion
from projects.roles import Action, can, require
from studio.errors import ApplicationError
from studio.forms import add_service_error
from training import selectors as training_selectors
from training.choices import Stage

RESULTS_PAGE = 50
PRIMARY_METRIC = {"classification": "accuracy", "extraction": "field_f1", "generation": "rouge_l"}


def _crumbs(project, *rest) -> list:
    return [
        ("Projects", reverse("projects:project_list")),
        (project.name, reverse("projects:project_detail", args=[project.pk])),
        ("Evaluation", reverse("evaluation:project_evaluation", args=[project.pk])),
        *rest,
    ]


def _metric_names(project, spec) -> list[str]:
    """The leaderboard's columns: the primary metric, then the metrics the spec's gates name."""
    names = [PRIMARY_METRIC.get(project.task_type, "accuracy")]
    for gate in (spec.gates if spec else []) or []:
        if gate.get("metric") and gate["metric"] not in names:
            names.append(gate["metric"])
    extra = {
        "classification": ["macro_f1", "ece"],
        "extraction": ["schema_valid_rate"],
        "generation": ["chrf"],
    }
    return names + [m for m in extra.get(project.task_type, []) if m not in names]


def _leaderboard_charts(project, rows, metric) -> dict:
    named = [(f"v{version.number}", run) for version, run in rows if run is not None]
    if not named:
        return {}
    bars = charts.metric_bars([(name, run.metrics.get("all", {}).get(metric)) for name, run in named], metric)
    slices = sorted({key for _, run in named for key in run.metrics if key != "all"})[:24]
    heat = charts.slice_heatmap(
        [name for name, _ in named],
        slices,
        [[run.metrics.get(key, {}).get(metric) for key in slices] for _, run in named],
        metric,
    )
    scatter = charts.quality_cost_scatter(
        [
            (name, run.metrics.get("all", {}).get(metric), (run.cost or {}).get("cost_per_1000_requests"))
            for name, run in named
        ],
        metric,
    )
    return {"bars": bars, "heatmap": heat if slices else None, "scatter": scatter}


@login_required
def project_evaluation(request, pk: int):
    project = project_selectors.project_get(user=request.user, pk=pk)
    team = project.team
    specs = list(selectors.eval_spec_list(user=request.user, project=project).select_related("signed_by"))
    signed = [spec for spec in specs if spec.is_signed]
    current = selectors.eval_spec_current_signed(project)
    rows = selectors.leaderboard(user=request.user, project=project, spec=current)
    metric_names = _metric_names(project, current)
    labels = {metric.name: metric.label for metric in metrics_for_task(project.task_type)}
    leaderboard = [
        {
            "version": version,
            "run": run,
            "values": [(run.metrics.get("all", {}).get(name) if run else None) for name in metric_names],
        }
        for version, run in rows
    ]
    runs = list(
        selectors.eval_run_list(user=request.user)
        .filter(project=project)
        .select_related("model_version", "spec")
        .order_by("-created_at", "-id")[:20]
    )
    versions = [version for version, _ in rows]
    can_run = can(request.user, team, Action.RUN_EVALS)
    # A model page's "Evaluate" names its version: the form starts on it.
    chosen = next((v.pk for v in versions if str(v.pk) == request.GET.get("version")), None)
    run_form = (
        EvalRunForm(versions=versions, specs=signed, initial={"model_version": chosen})
        if can_run and versions and signed
        else None
    )
    context = {
        "project": project,
        "specs": specs,
        "current_spec": current,
        "leaderboard": leaderboard,
        "metric_labels": [labels.get(name, name) for name in metric_names],
        "charts": _leaderboard_charts(project, rows, metric_names[0]),
        "runs": runs,
        "run_form": run_form,
        "can_edit_spec": can(request.user, team, Action.EDIT_EVAL_SPEC),
        "can_run": can_run,
        "has_versions": bool(versions),
        "breadcrumbs": [*_crumbs(project)[:-1], ("Evaluation", None)],
    }
    return render(request, "evaluation/project_evaluation.html", context)


@login_required
def spec_create(request, pk: int):
    project = project_selectors.project_get(user=request.user, pk=pk)
    require(request.user, project.team, Action.EDIT_EVAL_SPEC)
    latest = selectors.eval_spec_list(user=request.user, project=project).order_by("-version").first()
    initial = {
        "gates": latest.gates if latest else services.gates_from_charter(project),
        "layers": latest.layers if latest else Layers().model_dump(mode="json"),
        "cases": latest.cases if latest else [],
    }
    form = EvalSpecForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            spec = services.eval_spec_create(
                project=project, user=request.user, document=form.document(), note=form.cleaned_data["note"]
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Eval spec v{spec.version} saved. Read it, then sign it to lock it.")
            return redirect("evaluation:spec_detail", pk=spec.pk)
    context = {
        "project": project,
        "form": form,
        "latest": latest,
        "unmeasured": [] if latest else services.charter_measures_unmeasured(project),
        "measurable": [metric.name for metric in metrics_for_task(project.task_type)],
        "breadcrumbs": _crumbs(project, ("New spec version", None)),
    }
    return render(request, "evaluation/spec_form.html", context)


def layer_rows(layers: dict) -> list[tuple[str, str]]:
    """(layer, what it runs) in words, for the page a product owner reads before signing."""
    layers = Layers.model_validate(layers)
    regression, stress, policy = layers.regression, layers.stress, layers.policy
    named = {
        version.pk: f"{version.dataset.name} v{version.number}"
        for version in DatasetVersion.objects.filter(
            pk__in=[pk for pk in (regression.dataset_version, regression.golden_dataset_version) if pk]
        ).select_related("dataset")
    }
    sources = []
    if regression.dataset_version:
        sources.append(f"the test split of {named.get(regression.dataset_version, 'a removed version')}")
    if regression.golden_dataset_version:
        sources.append(f"the golden set {named.get(regression.golden_dataset_version, '(removed)')}")
    what = " and ".join(sources) or "the spec's own cases only"
    if regression.max_examples:
        what += f", at most {regression.max_examples:,} examples"
    rows = [("Regression", what[0].upper() + what[1:] + ".")]
    if stress.enabled:
        kinds = ", ".join(kind.replace("_", " ") for kind in stress.perturbations) or "no perturbations"
        extra = (" · out-of-domain inputs" if stress.out_of_domain else "") + (
            f" · {len(stress.messy_inputs)} messy inputs of your own" if stress.messy_inputs else ""
        )
        rows.append(("Stress", f"{kinds}, {stress.per_perturbation} inputs each{extra}."))
    else:
        rows.append(("Stress", "Off."))
    if policy.enabled:
        probes = ["the studio's built-in probes"] if policy.built_in else []
        if policy.probes:
            probes.append(f"{len(policy.probes)} probes of your own")
        rows.append(("Policy", (" and ".join(probes) or "no probes").capitalize() + "."))
    else:
        rows.append(("Policy", "Off."))
    return rows


@login_required
def spec_detail(request, pk: int):
    spec = selectors.eval_spec_get(user=request.user, pk=pk)
    project = spec.project
    context = {
        "spec": spec,
        "project": project,
        "can_sign": not spec.is_signed and can(request.user, project.team, Action.SIGN_EVAL_SPEC),
        "can_run": spec.is_signed and can(request.user, project.team, Action.RUN_EVALS),
        "layer_rows": layer_rows(spec.layers),
        "breadcrumbs": _crumbs(project, (f"Spec v{spec.version}", None)),
    }
    return render(request, "evaluation/spec_detail.html", context)


@login_required
@require_POST
def spec_sign(request, pk: int):
    spec = selectors.eval_spec_get(user=request.user, pk=pk)
    try:
        spec = services.eval_spec_sign(spec=spec, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Eval spec v{spec.version} signed and locked. It can now gate promotions.")
    return redirect("evaluation:spec_detail", pk=spec.pk)


@login_required
@require_POST
def run_create(request, pk: int):
    project = project_selectors.project_get(user=request.user, pk=pk)
    versions = training_selectors.model_version_list(user=request.user).filter(project=project)
    specs = [s for s in selectors.eval_spec_list(user=request.user, project=project) if s.is_signed]
    form = EvalRunForm(request.POST, versions=versions, specs=specs)
    if not form.is_valid():
        messages.error(request, "Choose a model version and a signed eval spec.")
        return redirect("evaluation:project_evaluation", pk=project.pk)
    version = training_selectors.model_version_get(user=request.user, pk=form.cleaned_data["model_version"])
    spec = selectors.eval_spec_get(user=request.user, pk=form.cleaned_data["spec"])
    try:
        run = services.eval_run_create(user=request.user, model_version=version, spec=spec)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("evaluation:project_evaluation", pk=project.pk)
    messages.success(request, f"Evaluation of v{version.number} queued; this page follows it live.")
    return redirect("evaluation:run_detail", pk=run.pk)


def _run_charts(run) -> dict:
    regression = (run.layer_metrics or {}).get("regression", {})
    threshold = (run.temperature or {}).get("charter_confidence_threshold")
    target = next(
        (
            g.get("threshold")
            for g in run.spec.gates
            if g.get("metric") == "accuracy" and g.get("kind") == "threshold"
        ),
        None,
    )
    found = {}
    if run.coverage_curve:
        found["coverage"] = charts.coverage_curve(run.coverage_curve, threshold=threshold, target=target)
    if run.reliability:
        found["reliability"] = charts.reliability_diagram(run.reliability)
    if regression.get("confusion_matrix") and regression.get("labels"):
        found["confusion"] = charts.confusion_matrix(regression["labels"], regression["confusion_matrix"])
    return found


@login_required
def run_detail(request, pk: int):
    run = selectors.eval_run_get(user=request.user, pk=pk)
    project = run.project
    filters = {
        "layer": request.GET.get("layer") if request.GET.get("layer") in Layer.values else None,
        "correct": {"yes": True, "no": False}.get(request.GET.get("correct", "")),
    }
    results = selectors.eval_result_list(run=run, **filters)
    page = Paginator(results, RESULTS_PAGE).get_page(request.GET.get("page"))
    known = {m.name: m.label for m in metrics_for_task(project.task_type)}
    metric_rows = [
        (
            key,
            row.get("count"),
            [(known[name], value) for name, value in row.items() if name in known and value is not None],
        )
        for key, row in (run.metrics or {}).items()
    ]
    context = {
        "run": run,
        "project": project,
        "spec": run.spec,
        "version": run.model_version,
        "verdicts": (run.gate_report or {}).get("verdicts", []),
        "metric_rows": metric_rows,
        "charts": _run_charts(run) if run.status == "succeeded" else {},
        "page": page,
        "filters": {k: request.GET.get(k, "") for k in ("layer", "correct")},
        "layers": Layer.choices,
        "can_cancel": not run.is_terminal and can(request.user, project.team, Action.RUN_EVALS),
        "breadcrumbs": _crumbs(project, (f"Run #{run.pk}", None)),
    }
    return render(request, "evaluation/run_detail.html", context)


@login_required
@require_POST
def run_cancel(request, pk: int):
    run = selectors.eval_run_get(user=request.user, pk=pk)
    try:
        services.eval_run_cancel(run=run, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Cancel requested: the run stops after its current batch.")
    return redirect("evaluation:run_detail", pk=run.pk)


def _reference(request, candidate):
    against = request.GET.get("against", "")
    if against.isascii() and against.isdecimal():
        return training_selectors.model_version_get(user=request.user, pk=int(against))
    return selectors.comparison_default_reference(user=request.user, candidate=candidate)


def _comparison(request, pk: int):
    candidate = training_selectors.model_version_get(user=request.user, pk=pk)
    reference = _reference(request, candidate)
    return candidate, reference, services.comparison_build(request.user, candidate, reference)


@login_required
def compare(request, pk: int):
    candidate = training_selectors.model_version_get(user=request.user, pk=pk)
    project = candidate.project
    others = training_selectors.model_version_list(user=request.user).filter(project=project).exclude(pk=pk)
    context = {
        "candidate": candidate,
        "project": project,
        "others": others,
        "breadcrumbs": _crumbs(project, (f"Compare v{candidate.number}", None)),
    }
    reference = None
    try:
        reference = _reference(request, candidate)
        comparison = services.comparison_build(request.user, candidate, reference)
    except ApplicationError as error:
        # The way out: evaluate the version that has no run (the evaluation page starts on it).
        missing = (error.details or {}).get("missing") or []
        unrun = next((v for v in (reference, candidate) if v and f"v{v.number}" in missing), None)
        evaluate_url = reverse("evaluation:project_evaluation", args=[project.pk])
        context |= {
            "problem": error.message,
            "evaluate_url": f"{evaluate_url}?version={unrun.pk}" if unrun else evaluate_url,
            "evaluate_label": f"Evaluate v{unrun.number}" if unrun else "Run evaluations",
        }
        return render(request, "evaluation/compare.html", context)
    slices = [
        (key, [(name, cell) for name, cell in row["metrics"].items()])
        for key, row in comparison["metrics"].items()
    ]
    context |= {
        "reference": reference,
        "comparison": comparison,
        "slices": slices,
        "markdown": services.comparison_markdown(comparison),
    }
    if candidate.stage in (Stage.CANDIDATE, Stage.STAGING) and can(
        request.user, project.team, Action.REQUEST_PROMOTION
    ):
        # The page's one next step (governance owns the request form; linked by its URL name).
        context["next_action"] = StepAction(
            "Request promotion", reverse("governance:model_governance", args=[candidate.pk])
        )
    return render(request, "evaluation/compare.html", context)


@login_required
def release_diff(request, pk: int):
    _, _, comparison = _comparison(request, pk)
    filename = f"release-diff-v{comparison['a']['number']}-vs-v{comparison['b']['number']}.md"
    response = HttpResponse(
        services.comparison_markdown(comparison), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
