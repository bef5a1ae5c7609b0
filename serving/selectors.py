"""Reads for endpoints, keys, request logs and reviews. Browser and API reads take the acting user and go
through `for_user`; the data plane, which has an API key instead of a user, reads `endpoint_serving_state`."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, OuterRef, QuerySet, Subquery

from governance.selectors import production_version  # the version an endpoint serves (re-exported)
from projects.models import Project, Team
from serving.choices import ReviewStatus
from serving.models import ApiKey, Endpoint, RequestLog, ReviewItem
from studio.tenancy import get_for_user
from training.choices import Stage
from training.models import ModelVersion


def _with_production_version(qs: QuerySet[Endpoint]) -> QuerySet[Endpoint]:
    """Each endpoint with `production_version_id`: the version it serves now (one query for a list)."""
    production = ModelVersion.objects.filter(project=OuterRef("project"), stage=Stage.PRODUCTION).order_by(
        "-number"
    )
    return qs.annotate(production_version_id=Subquery(production.values("pk")[:1]))


def endpoint_list(*, user, team: Team | None = None, project: Project | None = None) -> QuerySet[Endpoint]:
    qs = _with_production_version(
        Endpoint.objects.for_user(user).select_related("project__team", "created_by")
    )
    if team is not None:
        qs = qs.filter(project__team=team)
    if project is not None:
        qs = qs.filter(project=project)
    return qs


def endpoint_get(*, user, slug: str) -> Endpoint:
    return get_for_user(
        _with_production_version(
            Endpoint.objects.select_related("project__team", "created_by", "shadow_version", "canary_version")
        ),
        user,
        slug=slug,
    )


@dataclass(frozen=True)
class ServingState:
    """What the data plane needs to answer for an endpoint: the versions it serves and how to route."""

    endpoint: Endpoint
    production: ModelVersion | None
    shadow: ModelVersion | None
    canary: ModelVersion | None
    canary_percent: int

    @property
    def servable(self) -> bool:
        return self.endpoint.is_active and self.production is not None


def endpoint_serving_state(slug: str) -> ServingState | None:
    """The endpoint `slug` with its production version (and shadow/canary), or None if there is none.

    For the inference process, which authorises by API key (`api_key_authenticate`), not by user."""
    endpoint = (
        Endpoint.objects.select_related(
            "project__team", "shadow_version__base_model", "canary_version__base_model"
        )
        .filter(slug=slug)
        .first()
    )
    if endpoint is None:
        return None
    canary = endpoint.canary_version if endpoint.canary_percent else None
    return ServingState(
        endpoint=endpoint,
        production=production_version(endpoint.project),
        shadow=endpoint.shadow_version,
        canary=canary,
        canary_percent=endpoint.canary_percent if canary else 0,
    )


def api_key_endpoints(key: ApiKey) -> QuerySet[Endpoint]:
    """The endpoints a key may call (`/v1/models`)."""
    return key.endpoints.select_related("project").order_by("slug")


def api_key_may_call(key: ApiKey, endpoint: Endpoint) -> bool:
    return key.endpoints.filter(pk=endpoint.pk).exists()


def api_key_list(*, user, team: Team | None = None, endpoint: Endpoint | None = None) -> QuerySet[ApiKey]:
    qs = (
        ApiKey.objects.for_user(user)
        .select_related("team", "created_by", "minted_by_token")
        .prefetch_related("endpoints")
    )
    if team is not None:
        qs = qs.filter(team=team)
    if endpoint is not None:
        qs = qs.filter(endpoints=endpoint)
    return qs


def api_key_get(*, user, pk) -> ApiKey:
    return get_for_user(
        ApiKey.objects.select_related("team", "created_by", "minted_by_token").prefetch_related("endpoints"),
        user,
        pk=pk,
    )


def request_log_list(*, user, endpoint: Endpoint) -> QuerySet[RequestLog]:
    return (
        RequestLog.objects.for_user(user).filter(endpoint=endpoint).select_related("api_key", "model_version")
    )


def review_item_list(
    *, user, endpoint: Endpoint | None = None, status: str | None = None
) -> QuerySet[ReviewItem]:
    qs = ReviewItem.objects.for_user(user).select_related(
        "endpoint__project__team", "request_log__model_version", "reviewer"
    )
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    if status:
        qs = qs.filter(status=status)
    return qs


def review_item_get(*, user, pk) -> ReviewItem:
    return get_for_user(
        ReviewItem.objects.select_related("endpoint__project__team", "request_log__model_version"),
        user,
        pk=pk,
    )


def review_items_ready_to_export(*, endpoint: Endpoint) -> QuerySet[ReviewItem]:
    """Reviewed items not yet added to a dataset version, oldest first."""
    return (
        ReviewItem.objects.filter(
            endpoint=endpoint,
            status__in=[ReviewStatus.CONFIRMED, ReviewStatus.CORRECTED],
            exported_to__isnull=True,
        )
        .select_related("request_log")
        .order_by("created_at", "id")
    )


def review_pending_counts(endpoints) -> dict[int, int]:
    """{endpoint id: pending review items} for a page of endpoints, in one query."""
    rows = (
        ReviewItem.objects.filter(endpoint__in=list(endpoints), status=ReviewStatus.PENDING)
        .values("endpoint_id")
        .annotate(count=Count("id"))
    )
    return {row["endpoint_id"]: row["count"] for row in rows}


OFFLINE_METRICS = ("accuracy", "exact_match", "macro_f1")


def offline_score(version: ModelVersion | None) -> dict | None:
    """The version's headline offline figure: from its latest succeeded eval run's overall slice, else from
    its training metrics. {"metric", "value", "source"}, or None when neither has one."""
    if version is None:
        return None
    from evaluation.choices import RunStatus
    from evaluation.models import EvalRun

    run = (
        EvalRun.objects.filter(model_version=version, status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .only("pk", "metrics")
        .first()
    )
    sources = [((run.metrics or {}).get("all") or {}, f"eval run #{run.pk}")] if run else []
    sources.append((version.metrics or {}, "training validation"))
    for values, source in sources:
        for metric in OFFLINE_METRICS:
            if isinstance(values.get(metric), int | float):
                return {"metric": metric.replace("_", " "), "value": values[metric], "source": source}
    return None
