"""Charter pages: write the next version, read the history and the word-level diff of two versions."""

import difflib
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from projects import selectors, services
from projects.charters import charter_diff, charter_display_rows
from projects.forms import (
    CharterCompareForm,
    CharterForm,
    SuccessMeasureFormSet,
)
from projects.roles import Action, can, require
from projects.views.navigation import project_crumbs
from studio.errors import ApplicationError
from studio.forms import add_service_error


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
        "breadcrumbs": project_crumbs(
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


def _version_param(query: CharterCompareForm, name: str, versions: dict, default):
    number = query.cleaned_data[name]
    if number is None:
        return default
    if number not in versions:
        raise Http404(f"Charter version {number} does not exist.")
    return versions[number]


@login_required
def charter_history(request, pk: int):
    project = selectors.project_get(user=request.user, pk=pk)
    query = CharterCompareForm(request.GET)
    if not query.is_valid():
        raise Http404("There is no such charter version.")
    charters = list(selectors.charter_list(user=request.user, project=project).order_by("-version"))
    by_number = {charter.version: charter for charter in charters}
    head = _version_param(query, "head", by_number, charters[0] if charters else None)
    default_base = by_number.get(head.version - 1) if head else None
    base = _version_param(query, "base", by_number, default_base)
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
        "head_rows": charter_display_rows(head) if head else [],
        "can_edit": can(request.user, project.team, Action.EDIT_CHARTER),
        "breadcrumbs": project_crumbs(project, "Charter"),
    }
    return render(request, "projects/charter_history.html", context)
