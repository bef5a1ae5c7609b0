"""Browser pages for serving: endpoints (list, publish, page with charts, settings), API keys (create shown
once, revoke) and the review queue."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from projects import selectors as project_selectors
from projects.current_team import resolve_current_team
from projects.roles import Action, can, require
from serving import charts, metrics, selectors, services
from serving.choices import ReviewStatus
from serving.forms import ApiKeyForm, EndpointPublishForm, EndpointSettingsForm, ReviewCorrectForm, add_error
from serving.services.reviews import review_export_target, review_labels
from studio.errors import ApplicationError
from studio.templatetags.studio_format import percent
from training.choices import Stage

PAGE_SIZE = 25
RECENT_REQUESTS = 20


def inference_url(request) -> str:
    """Where callers reach the inference process (``manage.py serve``) for the OpenAI-compatible API:
    ``SERVING_PUBLIC_URL`` when set (a proxy in front), else this page's host on the inference port."""
    public = settings.SERVING["public_url"].rstrip("/")
    if public:
        return f"{public}/v1"
    host = request.get_host()
    if not host.endswith("]"):  # drop the web port (a bare IPv6 literal has none)
        host = host.rsplit(":", 1)[0]
    return f"{request.scheme}://{host}:{settings.SERVING['port']}/v1"


WINDOWS = {"24h": (24, 24), "7d": (24 * 7, 28)}


def _number(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def traffic_stats(figures: dict, currency: str) -> list[tuple[str, str, str]]:
    """(label, text, test id) of the window's headline figures, in the order a person reads them."""
    return [
        ("Requests", f"{figures['requests']:,}", "stat-requests"),
        ("Requests/s", _number(figures["requests_per_second"], 3), "stat-rps"),
        ("Latency p50", _number(figures["latency_p50_ms"], 0, " ms"), "stat-p50"),
        (
            "p95 / p99",
            f"{_number(figures['latency_p95_ms'])} / {_number(figures['latency_p99_ms'], 0, ' ms')}",
            "stat-p95",
        ),
        ("Errors", percent(figures["error_rate"]), "stat-errors"),
        ("Timeouts", percent(figures["timeout_rate"]), "stat-timeouts"),
        ("Escalated", percent(figures["escalation_rate"]), "stat-escalated"),
        ("Tokens in / out", f"{figures['input_tokens']:,} / {figures['output_tokens']:,}", "stat-tokens"),
        (
            "Cost per 1,000 requests",
            _number(figures["cost_per_1000_requests"], 4, f" {currency}"),
            "stat-cost-1000",
        ),
        (
            "Cost per successful task",
            _number(figures["cost_per_success"], 6, f" {currency}"),
            "stat-cost-success",
        ),
    ]


def _crumbs(*rest) -> list:
    return [("Endpoints", reverse("serving:endpoint_list")), *rest]


@login_required
def endpoint_list(request):
    team, _ = resolve_current_team(request)
    endpoints = list(selectors.endpoint_list(user=request.user, team=team)) if team else []
    pending = selectors.review_pending_counts(endpoints)
    for endpoint in endpoints:
        endpoint.pending_reviews = pending.get(endpoint.pk, 0)
    context = {
        "team": team,
        "endpoints": endpoints,
        "can_publish": team is not None and can(request.user, team, Action.PUBLISH_ENDPOINTS),
    }
    return render(request, "serving/endpoint_list.html", context)


@login_required
def endpoint_create(request):
    team, _ = resolve_current_team(request)
    if team is None:
        return redirect("serving:endpoint_list")
    require(request.user, team, Action.PUBLISH_ENDPOINTS)
    projects = list(
        project_selectors.project_list(user=request.user, team=team)
        .filter(model_versions__stage=Stage.PRODUCTION)
        .distinct()
        .order_by("name")
    )
    initial = {}
    if request.GET.get("project", "").isdecimal():
        chosen = next((p for p in projects if str(p.pk) == request.GET["project"]), None)
        if chosen is not None:
            initial = {"project": chosen.pk, "slug": chosen.slug}
    form = EndpointPublishForm(request.POST or None, projects=projects, initial=initial)
    if request.method == "POST" and form.is_valid():
        project = project_selectors.project_get(user=request.user, pk=form.cleaned_data["project"])
        try:
            endpoint = services.endpoint_publish(
                project=project,
                user=request.user,
                slug=form.cleaned_data["slug"],
                description=form.cleaned_data["description"],
            )
        except (ApplicationError, ValidationError) as error:
            add_error(form, error)
        else:
            messages.success(request, f"Endpoint “{endpoint.slug}” published. Create an API key to call it.")
            return redirect("serving:endpoint_detail", slug=endpoint.slug)
    context = {
        "team": team,
        "form": form,
        "projects": projects,
        "breadcrumbs": _crumbs(("Publish an endpoint", None)),
    }
    return render(request, "serving/endpoint_form.html", context)


@login_required
def endpoint_detail(request, slug: str):
    endpoint = selectors.endpoint_get(user=request.user, slug=slug)
    team = endpoint.project.team
    window = request.GET.get("window") if request.GET.get("window") in WINDOWS else "24h"
    hours, buckets = WINDOWS[window]
    figures = metrics.endpoint_metrics(endpoint, hours=hours, buckets=buckets)
    has_traffic = figures["window"]["requests"] > 0
    state = selectors.endpoint_serving_state(endpoint.slug)
    shadow = metrics.shadow_comparison(endpoint)
    can_manage_keys = can(request.user, team, Action.MANAGE_ENDPOINTS)
    team_endpoints = selectors.endpoint_list(user=request.user, team=team)
    context = {
        "endpoint": endpoint,
        "project": endpoint.project,
        "state": state,
        "window": window,
        "windows": list(WINDOWS),
        "stats": traffic_stats(figures["window"], figures["currency"]),
        "has_traffic": has_traffic,
        "shadow_agreement": percent(shadow["agreement"]) if shadow else "—",
        "offline": {
            "production": selectors.offline_score(state.production) if shadow else None,
            "shadow": selectors.offline_score(state.shadow) if shadow else None,
        },
        "currency": figures["currency"],
        "charts": charts.traffic_figures(figures["series"], figures["currency"]) if has_traffic else {},
        "shadow": shadow,
        "keys": selectors.api_key_list(user=request.user, endpoint=endpoint),
        "key_form": ApiKeyForm(endpoint=endpoint, team_endpoints=team_endpoints) if can_manage_keys else None,
        "recent": selectors.request_log_list(user=request.user, endpoint=endpoint)[:RECENT_REQUESTS],
        "pending_reviews": selectors.review_item_list(
            user=request.user, endpoint=endpoint, status=ReviewStatus.PENDING
        ).count(),
        "can_configure": can(request.user, team, Action.PUBLISH_ENDPOINTS),
        "can_manage_keys": can_manage_keys,
        "base_url": inference_url(request),
        "breadcrumbs": _crumbs((endpoint.slug, None)),
    }
    return render(request, "serving/endpoint_detail.html", context)


@login_required
def endpoint_settings(request, slug: str):
    endpoint = selectors.endpoint_get(user=request.user, slug=slug)
    require(request.user, endpoint.project.team, Action.PUBLISH_ENDPOINTS)
    form = EndpointSettingsForm(request.POST or None, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, user=request.user, **form.changed())
        except (ApplicationError, ValidationError) as error:
            add_error(form, error)
        else:
            messages.success(request, "Endpoint settings saved.")
            return redirect("serving:endpoint_detail", slug=endpoint.slug)
    suggested = services.routing_threshold_suggest(
        project=endpoint.project, version=selectors.production_version(endpoint.project)
    )
    context = {
        "endpoint": endpoint,
        "form": form,
        "suggested_threshold": suggested,
        "breadcrumbs": _crumbs(
            (endpoint.slug, reverse("serving:endpoint_detail", args=[endpoint.slug])), ("Settings", None)
        ),
    }
    return render(request, "serving/endpoint_settings.html", context)


@login_required
def api_key_create(request, slug: str):
    """The new-key form (GET, e.g. this URL reloaded); POST creates the key and shows its secret on this
    response only: never stored, never redirected to, and not kept in the browser's history."""
    endpoint = selectors.endpoint_get(user=request.user, slug=slug)
    team = endpoint.project.team
    require(request.user, team, Action.MANAGE_ENDPOINTS)
    team_endpoints = selectors.endpoint_list(user=request.user, team=team)
    form = ApiKeyForm(request.POST or None, endpoint=endpoint, team_endpoints=team_endpoints)
    key = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            key, secret = services.api_key_create(
                user=request.user,
                team=team,
                name=form.cleaned_data["name"],
                endpoints=[endpoint, *form.cleaned_data.get("also_endpoints", [])],
                expires_at=form.cleaned_data["expires_at"],
                rate_limit_per_minute=form.cleaned_data["rate_limit_per_minute"],
            )
        except (ApplicationError, ValidationError) as error:
            add_error(form, error)
    context = {
        "endpoint": endpoint,
        "form": form,
        "key": key,
        "secret": secret,
        "base_url": inference_url(request),
        "breadcrumbs": _crumbs(
            (endpoint.slug, reverse("serving:endpoint_detail", args=[endpoint.slug])), ("New API key", None)
        ),
    }
    refused = request.method == "POST" and key is None
    response = render(request, "serving/api_key_created.html", context, status=400 if refused else 200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def api_key_revoke(request, pk: int):
    key = selectors.api_key_get(user=request.user, pk=pk)
    services.api_key_revoke(key=key, user=request.user)
    messages.success(request, f"API key “{key.name}” revoked: requests with it are refused from now on.")
    back = request.POST.get("endpoint", "")
    endpoint = next((e for e in key.endpoints.all() if e.slug == back), None)
    if endpoint is not None:
        return redirect("serving:endpoint_detail", slug=endpoint.slug)
    return redirect("serving:endpoint_list")


# --- Review queue ---------------------------------------------------------------------------------------


@login_required
def review_queue(request, slug: str):
    endpoint = selectors.endpoint_get(user=request.user, slug=slug)
    team = endpoint.project.team
    status = request.GET.get("status") if request.GET.get("status") in ReviewStatus.values else ""
    items = selectors.review_item_list(user=request.user, endpoint=endpoint, status=status or None)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = review_labels(endpoint)
    ready = selectors.review_items_ready_to_export(endpoint=endpoint).count()
    target = review_export_target(endpoint)
    context = {
        "endpoint": endpoint,
        "page_obj": page,
        "items": page.object_list,
        "status": status,
        "statuses": ReviewStatus.choices,
        "labels": labels,
        "correct_form": ReviewCorrectForm(labels=labels),
        "ready_to_export": ready,
        "export_target": target,
        "can_review": can(request.user, team, Action.REVIEW_ESCALATIONS),
        "can_export": can(request.user, team, Action.MANAGE_DATASETS),
        "breadcrumbs": _crumbs(
            (endpoint.slug, reverse("serving:endpoint_detail", args=[endpoint.slug])), ("Review queue", None)
        ),
    }
    return render(request, "serving/review_queue.html", context)


@login_required
@require_POST
def review_confirm(request, pk: int):
    item = selectors.review_item_get(user=request.user, pk=pk)
    services.review_item_confirm(item=item, user=request.user)
    messages.success(request, f"Answer #{item.request_log_id} confirmed.")
    return _back_to_queue(request, item)


@login_required
@require_POST
def review_correct(request, pk: int):
    item = selectors.review_item_get(user=request.user, pk=pk)
    require(request.user, item.endpoint.project.team, Action.REVIEW_ESCALATIONS)
    form = ReviewCorrectForm(request.POST, labels=review_labels(item.endpoint))
    if form.is_valid():
        services.review_item_correct(
            item=item, user=request.user, corrected_output=form.cleaned_data["corrected_output"]
        )
        messages.success(request, f"Answer #{item.request_log_id} corrected.")
    else:
        messages.error(request, f"Answer #{item.request_log_id}: {form.errors['corrected_output'][0]}")
    return _back_to_queue(request, item)


def _back_to_queue(request, item):
    """The review queue as it was filtered when the reviewer acted (``status`` sent with the form)."""
    url = reverse("serving:review_queue", args=[item.endpoint.slug])
    status = request.POST.get("status", "")
    return redirect(f"{url}?status={status}" if status in ReviewStatus.values else url)


@login_required
@require_POST
def review_export(request, slug: str):
    endpoint = selectors.endpoint_get(user=request.user, slug=slug)
    version = services.review_items_export(endpoint=endpoint, user=request.user)
    messages.success(
        request,
        f"{version.dataset.name} v{version.number} created with the reviewed examples: "
        "train on it to close the loop.",
    )
    return redirect("projects:dataset_version_detail", pk=version.pk)
