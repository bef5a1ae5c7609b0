"""Team pages: switch, create, settings and members; personal access tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from projects import selectors, services
from projects.choices import Role
from projects.current_team import resolve_current_team, set_current_team
from projects.forms import (
    MemberAddForm,
    MemberRoleForm,
    PersonalAccessTokenForm,
    TeamForm,
)
from projects.roles import Action, can, require
from projects.views.navigation import safe_next
from studio.errors import ApplicationError
from studio.forms import add_service_error


@login_required
@require_POST
def team_switch(request):
    team = selectors.team_get(user=request.user, slug=request.POST.get("team", ""))
    set_current_team(request, team)
    return redirect(safe_next(request, reverse("home")))


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
        services.membership_change_role(
            membership=membership, user=request.user, role=form.cleaned_data["role"]
        )
        messages.success(
            request, f"{membership.user.get_username()} is now {Role(form.cleaned_data['role']).label}."
        )
    return redirect("projects:team_detail_slug", slug=membership.team.slug)


@login_required
@require_POST
def member_remove(request, pk: int):
    membership = selectors.membership_get(user=request.user, pk=pk)
    services.membership_remove(membership=membership, user=request.user)
    messages.success(request, f"{membership.user.get_username()} was removed from {membership.team.name}.")
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
