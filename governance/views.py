"""Governance pages: the approvals inbox, a request with its evidence, a model's governance page (stage
history, promotion request, model card, retire), the project's rollback, and the tier policy."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance import selectors, services, tiers
from governance.evidence import current_evidence_key, failing_gates
from governance.forms import ApproveForm, ModelCardForm, PromotionRequestForm, RejectForm, RollbackForm
from projects import selectors as project_selectors
from projects.roles import Action, can
from studio.errors import ApplicationError
from training import selectors as training_selectors


@login_required
def approval_list(request):
    """The inbox: requests the user can approve now, their notifications, and recent requests."""
    notifications = list(selectors.notification_list(user=request.user)[:30])
    context = {
        "to_act": selectors.inbox_promotions(user=request.user),
        "notifications": notifications,
        "unread": sum(1 for n in notifications if n.read_at is None),
        "recent": selectors.promotion_list(user=request.user)[:30],
        "breadcrumbs": [("Approvals", None)],
    }
    return render(request, "governance/approval_list.html", context)


@login_required
@require_POST
def notifications_read(request):
    services.notification_mark_read(user=request.user)
    return redirect("governance:approval_list")


def _detail_context(request, promotion):
    roles = selectors.roles_user_can_fill(request.user, promotion)
    return {
        "stale": promotion.is_pending
        and current_evidence_key(promotion.model_version) != promotion.evidence_key,
        "promotion": promotion,
        "project": promotion.project,
        "version": promotion.model_version,
        "evidence": promotion.evidence,
        "failing": failing_gates(promotion.evidence) if promotion.evidence.get("eval_run") else [],
        "role_labels": tiers.APPROVER_ROLE_LABELS,
        "can_approve_as": [(role, tiers.role_label(role)) for role in roles],
        "can_reject": promotion.is_pending
        and request.user.pk != promotion.requested_by_id
        and any(selectors.can_act_as(request.user, promotion, r) for r in promotion.required_roles),
        "can_withdraw": promotion.is_pending
        and (
            request.user.pk == promotion.requested_by_id
            or can(request.user, promotion.project.team, Action.MANAGE_TEAM)
        ),
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
        "breadcrumbs": [
            ("Approvals", reverse("governance:approval_list")),
            (f"Request #{promotion.pk}", None),
        ],
    }


@login_required
def promotion_detail(request, pk: int):
    promotion = selectors.promotion_get(user=request.user, pk=pk)
    return render(request, "governance/promotion_detail.html", _detail_context(request, promotion))


def _act(request, pk: int, act) -> HttpResponse:
    promotion = selectors.promotion_get(user=request.user, pk=pk)
    try:
        message = act(promotion)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, message)
    return redirect("governance:promotion_detail", pk=promotion.pk)


@login_required
@require_POST
def promotion_approve(request, pk: int):
    form = ApproveForm(request.POST)
    form.is_valid()
    role = form.cleaned_data.get("role") or None

    def act(promotion):
        approved = services.promotion_approve(
            promotion=promotion, user=request.user, role=role, comment=form.cleaned_data.get("comment", "")
        )
        return approved.approval_outcome()

    return _act(request, pk, act)


@login_required
@require_POST
def promotion_reject(request, pk: int):
    form = RejectForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""

    def act(promotion):
        services.promotion_reject(promotion=promotion, user=request.user, comment=comment)
        return "Rejected: the request is closed."

    return _act(request, pk, act)


@login_required
@require_POST
def promotion_refresh(request, pk: int):
    def act(promotion):
        changed = services.promotion_evidence_refresh(promotion=promotion, user=request.user)
        return "New evidence taken: earlier approvals were voided." if changed else "The evidence is current."

    return _act(request, pk, act)


@login_required
@require_POST
def promotion_withdraw(request, pk: int):
    def act(promotion):
        services.promotion_withdraw(promotion=promotion, user=request.user)
        return "Withdrawn."

    return _act(request, pk, act)


@login_required
def model_governance(request, pk: int):
    """A model version's governance: its stage and history, promotion requests, model card, retirement."""
    version = training_selectors.model_version_get(user=request.user, pk=pk)
    team = version.project.team
    may_request = can(request.user, team, Action.REQUEST_PROMOTION)
    form = PromotionRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        risk = None
        if data["accept_risk"]:
            latest = _latest_failing(request.user, version)
            risk = {"gates": latest, "reason": data["risk_reason"], "until": data["risk_until"]}
        try:
            promotion = services.promotion_request_create(
                user=request.user,
                model_version=version,
                target_stage=data["target_stage"],
                reason=data["reason"],
                risk_acceptance=risk,
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Requested: tier {promotion.tier}.")
            return redirect("governance:promotion_detail", pk=promotion.pk)
    card = services.model_card_current(version)
    context = {
        "version": version,
        "project": version.project,
        "history": selectors.stage_history(user=request.user, model_version=version),
        "promotions": selectors.promotion_list(user=request.user).filter(model_version=version),
        "production": selectors.production_version(version.project),
        "card": card,
        "card_form": ModelCardForm(
            initial={"intended_use": card.intended_use, "limitations": card.limitations}
        ),
        "generated": card.generated,
        "may_request": may_request and version.stage != "retired",
        "may_write_card": services.card_writer(request.user, version),
        "may_approve_card": services.card_approver(request.user, version),
        "form": form,
        "breadcrumbs": [
            ("Models", reverse("training:model_list")),
            (
                f"{version.project.name} v{version.number}",
                reverse("training:model_detail", args=[version.pk]),
            ),
            ("Governance", None),
        ],
    }
    return render(request, "governance/model_governance.html", context)


def _latest_failing(user, version) -> list[str]:
    from governance.evidence import evidence_collect

    try:
        return failing_gates(evidence_collect(user=user, version=version, production=None))
    except ApplicationError:
        return []


@login_required
@require_POST
def model_card_action(request, pk: int, step: str):
    version = training_selectors.model_version_get(user=request.user, pk=pk)
    try:
        if step == "save":
            form = ModelCardForm(request.POST)
            if form.is_valid():
                services.model_card_update(version=version, user=request.user, **form.cleaned_data)
                messages.success(request, "Model card saved.")
        elif step == "submit":
            services.model_card_submit(version=version, user=request.user)
            messages.success(request, "Model card sent for review.")
        elif step == "approve":
            services.model_card_approve(version=version, user=request.user)
            messages.success(request, "Model card approved.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("governance:model_governance", pk=version.pk)


@login_required
def model_card_markdown(request, pk: int):
    version = training_selectors.model_version_get(user=request.user, pk=pk)
    card = services.model_card_current(version)
    response = HttpResponse(services.model_card_markdown(card), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="model-card-{version.project.slug}-v{version.number}.md"'
    )
    return response


@login_required
@require_POST
def model_retire(request, pk: int):
    version = training_selectors.model_version_get(user=request.user, pk=pk)
    try:
        services.model_version_retire(
            version=version, user=request.user, reason=request.POST.get("reason", "")[:2000]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Version {version.number} retired: it can no longer be promoted.")
    return redirect("governance:model_governance", pk=version.pk)


@login_required
def project_releases(request, pk: int):
    """A project's production and staging versions, its requests, rollback and the rollback drill."""
    project = project_selectors.project_get(user=request.user, pk=pk)
    form = RollbackForm(request.POST or None)
    if request.method == "POST":
        try:
            if request.POST.get("drill"):
                change = services.staging_rollback_drill(project=project, user=request.user)
                messages.success(request, f"Rollback drill done on staging in {change.duration_ms} ms.")
            elif form.is_valid():
                restored = services.production_rollback(
                    project=project, user=request.user, reason=form.cleaned_data["reason"]
                )
                messages.success(request, f"Rolled back: version {restored.number} is in production again.")
        except ApplicationError as error:
            messages.error(request, error.message)
        return redirect("governance:project_releases", pk=project.pk)
    context = {
        "project": project,
        "production": selectors.production_version(project),
        "staging": selectors.staging_version(project),
        "promotions": selectors.promotion_list(user=request.user, project=project)[:50],
        "changes": selectors.project_stage_history(user=request.user, project=project)[:50],
        "may_roll_back": can(request.user, project.team, Action.REQUEST_PROMOTION),
        "form": form,
        "breadcrumbs": [
            ("Projects", reverse("projects:project_list")),
            (project.name, reverse("projects:project_detail", args=[project.pk])),
            ("Releases", None),
        ],
    }
    return render(request, "governance/project_releases.html", context)


@login_required
def tier_policy(request):
    """The tiers in plain words, who approves each in the user's teams, and (for team owners) the form
    that makes a team's policy stricter."""
    if request.method == "POST":
        team = project_selectors.team_get(user=request.user, slug=request.POST.get("team", "")[:60])
        roles = {str(t): request.POST.getlist(f"tier{t}") for t in range(tiers.MAX_TIER + 1)}
        try:
            services.tier_policy_set_team(
                team=team,
                user=request.user,
                roles=roles,
                automatic_tier0=bool(request.POST.get("automatic_tier0")),
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{team.name}'s policy saved.")
        return redirect("governance:tier_policy")
    global_policy = selectors.tier_policy_global()
    rows = [
        {
            "tier": tier,
            "summary": tiers.TIER_SUMMARIES[tier],
            "roles": [tiers.role_label(r) for r in global_policy.required_roles(tier)],
            "automatic": tier == 0 and global_policy.automatic_tier0 and not global_policy.required_roles(0),
        }
        for tier in range(tiers.MAX_TIER + 1)
    ]
    team_rows = []
    for team in project_selectors.team_list(user=request.user)[:50]:
        effective = selectors.tier_policy_effective(team)
        own = selectors.tier_policy_team_own(team) or global_policy
        team_rows.append(
            {
                "team": team,
                "tiers": [[tiers.role_label(r) for r in effective.required_roles(t)] for t in range(4)],
                "automatic": effective.automatic_tier0 and not effective.required_roles(0),
                "editable": can(request.user, team, Action.MANAGE_TEAM),
                "own": [
                    [(r, tiers.role_label(r), r in own.required_roles(t)) for r in tiers.APPROVER_ROLES]
                    for t in range(4)
                ],
                "own_automatic": own.automatic_tier0,
            }
        )
    context = {
        "rows": rows,
        "team_rows": team_rows,
        "breadcrumbs": [("Approvals", reverse("governance:approval_list")), ("Tier policy", None)],
    }
    return render(request, "governance/tier_policy.html", context)
