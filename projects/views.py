"""Browser pages: teams, members and tokens; projects and their journey hub; charters; datasets."""

import difflib
import json
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from projects import charts as charts_module
from projects import selectors, services
from projects.charters import CHARTER_FIELDS, charter_diff, display_value
from projects.choices import DatasetKind
from projects.current_team import resolve_current_team, set_current_team
from projects.downloads import dataset_version_file_response
from projects.forms import (
    CharterForm,
    DatasetCardForm,
    DatasetResplitForm,
    DatasetUploadForm,
    MemberAddForm,
    MemberRoleForm,
    PersonalAccessTokenForm,
    ProjectForm,
    SuccessMeasureFormSet,
    TeamForm,
)
from projects.ingest import Format, detect_format, preview_rows, read_header, suggest_column_mapping
from projects.policy import training_block_reasons
from projects.roles import Action, Role, can, require
from studio.errors import ApplicationError, Conflict, InvalidInput
from studio.forms import add_service_error


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
@require_POST
def team_switch(request):
    team = selectors.team_get(user=request.user, slug=request.POST.get("team", ""))
    set_current_team(request, team)
    return redirect(_safe_next(request, reverse("home")))


@login_required
def team_create(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            set_current_team(request, team)
            messages.success(request, f"Team “{team.name}” created. You are its owner.")
            return redirect("projects:team_detail")
    return render(request, "projects/team_form.html", {"form": form})


@login_required
def team_detail(request, slug: str | None = None):
    """Team settings and members. Owners manage; everyone else reads."""
    if slug:
        team = selectors.team_get(user=request.user, slug=slug)
        set_current_team(request, team)
    else:
        team, _ = resolve_current_team(request)
        if team is None:
            return render(request, "projects/team_none.html")
    manage = can(request.user, team, Action.MANAGE_TEAM)
    add_form = MemberAddForm(request.POST or None) if manage else None
    team_form = TeamForm(initial={"name": team.name, "description": team.description}) if manage else None
    if request.method == "POST":
        require(request.user, team, Action.MANAGE_TEAM)
        if add_form.is_valid():
            try:
                membership = services.membership_add(team=team, user=request.user, **add_form.cleaned_data)
            except ApplicationError as error:
                add_service_error(add_form, error)
            else:
                messages.success(
                    request, f"{membership.user.get_username()} joined as {membership.get_role_display()}."
                )
                return redirect(request.path)
    context = {
        "team": team,
        "members": selectors.membership_list(user=request.user, team=team),
        "can_manage": manage,
        "add_form": add_form,
        "team_form": team_form,
        "role_choices": Role.choices,
    }
    return render(request, "projects/team_detail.html", context)


@login_required
@require_POST
def team_update(request, slug: str):
    team = selectors.team_get(user=request.user, slug=slug)
    form = TeamForm(request.POST)
    if form.is_valid():
        services.team_update(team=team, user=request.user, **form.cleaned_data)
        messages.success(request, "Team settings saved.")
    else:
        messages.error(request, "The team name is required.")
    return redirect("projects:team_detail_slug", slug=team.slug)


@login_required
@require_POST
def member_change_role(request, pk: int):
    membership = selectors.membership_get(user=request.user, pk=pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    else:
        try:
            services.membership_change_role(
                membership=membership, user=request.user, role=form.cleaned_data["role"]
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"{membership.user.get_username()} is now {Role(form.cleaned_data['role']).label}."
            )
    return redirect("projects:team_detail_slug", slug=membership.team.slug)


@login_required
@require_POST
def member_remove(request, pk: int):
    membership = selectors.membership_get(user=request.user, pk=pk)
    try:
        services.membership_remove(membership=membership, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{membership.user.get_username()} was removed from {membership.team.name}."
        )
    return redirect("projects:team_detail_slug", slug=membership.team.slug)


@login_required
def token_list(request):
    form = PersonalAccessTokenForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            token, new_secret = services.personal_access_token_create(user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request, f"Token “{token.name}” created. Copy it now: it will not be shown again."
            )
            form = PersonalAccessTokenForm()
    context = {
        "tokens": selectors.personal_access_token_list(user=request.user),
        "form": form,
        "new_secret": new_secret,
    }
    return render(request, "projects/token_list.html", context)


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = selectors.personal_access_token_get(user=request.user, pk=pk)
    services.personal_access_token_revoke(token=token, user=request.user)
    messages.success(request, f"Token “{token.name}” revoked. Requests using it now get 401.")
    return redirect("projects:token_list")


# --- Projects -----------------------------------------------------------------------------------------

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
    context = {"form": form, "project": project, "breadcrumbs": _project_crumbs(project, "Edit")}
    return render(request, "projects/project_form.html", context)


def _project_crumbs(project, *rest) -> list:
    crumbs = [
        ("Projects", reverse("projects:project_list")),
        (project.name, reverse("projects:project_detail", args=[project.pk])),
    ]
    return crumbs + [(label, None) if isinstance(label, str) else label for label in rest]


@login_required
def project_detail(request, pk: int):
    project = selectors.project_get(user=request.user, pk=pk)
    charter = selectors.charter_latest(project=project)
    datasets = list(selectors.dataset_list_with_versions(user=request.user, project=project))
    for dataset in datasets:
        dataset.latest = next(iter(dataset.versions.all()), None)
        dataset.blocked = bool(dataset.latest and training_block_reasons(dataset.latest, charter=charter))
    steps = _journey(request=request, project=project, charter=charter, datasets=datasets)
    context = {
        "project": project,
        "charter": charter,
        "charter_fields": _charter_rows(charter) if charter else [],
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


# --- Charters -----------------------------------------------------------------------------------------


def _charter_rows(charter) -> list[tuple[str, str]]:
    return [(label, display_value(field, getattr(charter, field))) for field, label in CHARTER_FIELDS.items()]


@login_required
def charter_edit(request, pk: int):
    project = selectors.project_get(user=request.user, pk=pk)
    require(request.user, project.team, Action.EDIT_CHARTER)
    latest = selectors.charter_latest(project=project)
    form = CharterForm(request.POST or None, initial=CharterForm.initial_for(latest))
    measures = SuccessMeasureFormSet(
        request.POST or None,
        prefix="measures",
        initial=latest.success_measures if latest else [{"higher_is_better": True}],
    )
    if request.method == "POST" and form.is_valid() and measures.is_valid():
        fields = dict(form.cleaned_data)
        change_note = fields.pop("change_note")
        try:
            charter = services.charter_create_version(
                project=project,
                user=request.user,
                change_note=change_note,
                success_measures=measures.measures(),
                **fields,
            )
        except ApplicationError as error:
            _place_charter_error(form, measures, error)
        else:
            messages.success(request, f"Charter v{charter.version} saved.")
            return redirect("projects:project_detail", pk=project.pk)
    context = {
        "project": project,
        "form": form,
        "measures": measures,
        "latest": latest,
        "breadcrumbs": _project_crumbs(
            project, ("Charter", reverse("projects:charter_history", args=[project.pk])), "Edit"
        ),
    }
    return render(request, "projects/charter_form.html", context)


def _place_charter_error(form, measures, error: ApplicationError) -> None:
    """Success-measure errors come back as `success_measures.<i>.<field>`; the rest belong to the form."""
    details = error.details if isinstance(error.details, dict) else {}
    measure_errors = [
        msg for key, msgs in details.items() if key.startswith("success_measures") for msg in msgs
    ]
    if measure_errors:
        measures.non_form_errors().extend(measure_errors)
    else:
        add_service_error(form, error)


def _word_diff(before: str, after: str) -> tuple[str, str]:
    """Both texts as HTML with removed words in <del> (before) and added words in <ins> (after)."""
    # Words keep their trailing space, so a run of changed words is marked as one span.
    old, new = re.findall(r"\S+\s*|\s+", before), re.findall(r"\S+\s*|\s+", after)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        old_part, new_part = escape("".join(old[i1:i2])), escape("".join(new[j1:j2]))
        if op == "equal":
            left.append(old_part)
            right.append(new_part)
            continue
        if old_part:
            left.append(f"<del>{old_part}</del>")
        if new_part:
            right.append(f"<ins>{new_part}</ins>")
    return mark_safe("".join(left)), mark_safe("".join(right))  # every part is escaped above


def _version_param(request, name: str, versions: dict, default):
    raw = request.GET.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) not in versions:
        raise Http404(f"Charter version {raw} does not exist.")
    return versions[int(raw)]


@login_required
def charter_history(request, pk: int):
    project = selectors.project_get(user=request.user, pk=pk)
    charters = list(selectors.charter_list(user=request.user, project=project).order_by("-version"))
    by_number = {charter.version: charter for charter in charters}
    head = _version_param(request, "head", by_number, charters[0] if charters else None)
    default_base = by_number.get(head.version - 1) if head else None
    base = _version_param(request, "base", by_number, default_base)
    changes = []
    if base and head:
        older, newer = sorted((base, head), key=lambda charter: charter.version)
        base, head = older, newer
        for change in charter_diff(older, newer):
            change["before_html"], change["after_html"] = _word_diff(change["before"], change["after"])
            changes.append(change)
    context = {
        "project": project,
        "charters": charters,
        "base": base,
        "head": head,
        "changes": changes,
        "head_rows": _charter_rows(head) if head else [],
        "can_edit": can(request.user, project.team, Action.EDIT_CHARTER),
        "breadcrumbs": _project_crumbs(project, "Charter"),
    }
    return render(request, "projects/charter_history.html", context)


# --- Dataset upload -----------------------------------------------------------------------------------

_SENTINEL_PK = 999999999


def _upload_context(request, *, project, dataset=None) -> dict:
    version_url = reverse("projects:dataset_version_detail", args=[_SENTINEL_PK])
    crumbs = _project_crumbs(project)
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
        }
    )


# --- Dataset versions ---------------------------------------------------------------------------------


@login_required
def dataset_detail(request, pk: int):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    latest = selectors.dataset_version_list(user=request.user, dataset=dataset).order_by("-number").first()
    if latest is None:
        return redirect("projects:project_detail", pk=dataset.project_id)
    return redirect("projects:dataset_version_detail", pk=latest.pk)


def _length_unit(stats: dict) -> str:
    if stats.get("length_unit") == "tokens":
        return f"tokens ({stats['tokenizer']})" if stats.get("tokenizer") else "tokens"
    return "characters"


def _dataset_charts(version) -> dict:
    stats = version.stats or {}
    unit = "tokens" if stats.get("length_unit") == "tokens" else "characters"
    charts = {}
    if stats.get("label_distribution"):
        charts["labels"] = charts_module.label_distribution_figure(stats["label_distribution"]).to_json()
    for key, color in (("input_length", charts_module.ACCENT), ("output_length", charts_module.SECOND)):
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
    stats = version.stats or {}
    contamination = version.contamination or {}
    context = {
        "version": version,
        "dataset": dataset,
        "project": project,
        "charter": charter,
        "versions": selectors.dataset_version_list(user=request.user, dataset=dataset).order_by("-number"),
        "status": "blocked" if reasons else "ready",
        "block_reasons": reasons,
        "stats": stats,
        "length_unit": _length_unit(stats),
        "charts": _dataset_charts(version),
        "pii_total": sum(version.pii_summary.values()),
        "pii_summary": sorted(version.pii_summary.items(), key=lambda item: -item[1]),
        "test_contamination": contamination.get("test_split"),
        "other_contamination": sorted((contamination.get("other_datasets") or {}).items()),
        "is_latest": not dataset.versions.filter(number__gt=version.number).exists(),
        "can_manage": can_manage,
        "card_form": DatasetCardForm(initial={f: getattr(dataset, f) for f in services.CARD_FIELDS})
        if can_manage
        else None,
        "resplit_form": DatasetResplitForm(initial={"seed": version.split_seed + 1}) if can_manage else None,
        "breadcrumbs": _project_crumbs(project, f"{dataset.name} v{version.number}"),
    }
    return render(request, "projects/dataset_version_detail.html", context)


@login_required
@require_POST
def dataset_card_edit(request, pk: int):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    require(request.user, dataset.project.team, Action.MANAGE_DATASETS)
    form = DatasetCardForm(request.POST)
    back = _safe_next(request, reverse("projects:dataset_detail", args=[dataset.pk]))
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label or field}: {' '.join(errors)}")
        return redirect(back)
    try:
        services.dataset_card_update(dataset=dataset, user=request.user, **form.cleaned_data)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Data card saved.")
    return redirect(back)


@login_required
@require_POST
def dataset_version_redact(request, pk: int):
    version = selectors.dataset_version_get(user=request.user, pk=pk)
    try:
        redacted = services.dataset_version_redact(version=version, user=request.user)
    except (InvalidInput, Conflict) as error:
        messages.error(request, error.message)
        return redirect("projects:dataset_version_detail", pk=version.pk)
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
        messages.error(request, "Give a seed: a whole number, 0 or more.")
        return redirect("projects:dataset_version_detail", pk=version.pk)
    try:
        resplit = services.dataset_version_resplit(
            version=version, user=request.user, seed=form.cleaned_data["seed"]
        )
    except (InvalidInput, Conflict) as error:
        messages.error(request, error.message)
        return redirect("projects:dataset_version_detail", pk=version.pk)
    messages.success(request, f"Re-split with seed {resplit.split_seed} as v{resplit.number}.")
    return redirect("projects:dataset_version_detail", pk=resplit.pk)


@login_required
def dataset_version_download(request, pk: int, export: str):
    version = selectors.dataset_version_get(user=request.user, pk=pk)
    if export not in ("jsonl", "csv"):
        raise Http404("Downloads are JSONL or CSV.")
    return dataset_version_file_response(version, export)
