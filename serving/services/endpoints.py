"""Publishing a project's production version as an endpoint, and changing how the endpoint routes."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from audit.services import audit_event_record
from projects.choices import DataClass
from projects.models import Project
from projects.roles import Action, require
from projects.selectors import charter_latest
from serving.choices import Fallback, LogPolicy
from serving.models import Endpoint
from serving.selectors import production_version
from studio.errors import Conflict, InvalidInput
from studio.services import model_update
from training.choices import Stage
from training.models import ModelVersion

# Endpoint settings a team owner or ML engineer may change after publishing.
SETTINGS_FIELDS = (
    "description",
    "status",
    "routing_threshold",
    "fallback",
    "fallback_url",
    "fallback_timeout_s",
    "shadow_version",
    "canary_version",
    "canary_percent",
    "log_policy",
    "max_input_tokens",
    "max_tokens_cap",
    "request_timeout_s",
)
# Shadow and canary versions must have been approved at least to staging.
TRIAL_STAGES = (Stage.STAGING, Stage.PRODUCTION)
DEFAULT_TARGET_ACCURACY = 0.9
# Path segments of the endpoint pages (endpoints/new/, endpoints/keys/…): never an endpoint's slug.
RESERVED_SLUGS = frozenset({"new", "keys", "reviews"})
SLUG_TAKEN = "An endpoint with this slug already exists."


def routing_threshold_suggest(*, project: Project, version: ModelVersion | None) -> float | None:
    """The threshold to start from: the lowest confidence at which the version's evaluated accuracy
    reaches the charter's accuracy target (from its latest eval run's coverage curve); otherwise the
    charter's own confidence threshold; None when neither exists (never escalate)."""
    charter = charter_latest(project=project)
    target = DEFAULT_TARGET_ACCURACY
    for measure in (charter.success_measures if charter else None) or []:
        if isinstance(measure, dict) and measure.get("metric") == "accuracy" and measure.get("target"):
            target = float(measure["target"])
    curve = _coverage_curve(version) if version is not None else None
    points = [
        (float(point["threshold"]), float(point["accuracy"]))
        for point in curve or []
        if isinstance(point.get("threshold"), int | float) and isinstance(point.get("accuracy"), int | float)
    ]
    for threshold, accuracy in sorted(points):
        if accuracy >= target and 0 <= threshold <= 1:
            return round(threshold, 4)
    return charter.confidence_threshold if charter else None


def _coverage_curve(version: ModelVersion) -> list[dict] | None:
    """The coverage/accuracy curve of the version's latest succeeded eval run, if evaluation recorded one."""
    from django.apps import apps

    try:
        EvalRun = apps.get_model("evaluation", "EvalRun")
    except LookupError:  # evaluation runs are not part of this installation
        return None
    fields = {field.name for field in EvalRun._meta.get_fields()}
    if "model_version" not in fields:
        return None
    runs = EvalRun.objects.filter(model_version=version)
    if "status" in fields:
        runs = runs.filter(status="succeeded")
    run = runs.order_by("-pk").first()
    if run is None:
        return None
    if "coverage_curve" in fields:
        curve = run.coverage_curve
    else:
        curve = (getattr(run, "metrics", None) or {}).get("coverage_curve")
    if not isinstance(curve, list):
        return None
    return [point for point in curve if isinstance(point, dict) and "threshold" in point]


def _default_log_policy(project: Project) -> str:
    """Special-category data is never stored in the request log; everything else is stored redacted."""
    charter = charter_latest(project=project)
    if charter and DataClass.SPECIAL_CATEGORY in (charter.data_classes or []):
        return LogPolicy.NONE
    return LogPolicy.REDACTED


def _check_settings(endpoint: Endpoint) -> None:
    """Rules across fields that the database cannot state on its own."""
    errors = {}
    for field in ("shadow_version", "canary_version"):
        version = getattr(endpoint, field)
        if version is None:
            continue
        if version.project_id != endpoint.project_id:
            errors[field] = ["This version belongs to another project."]
        elif version.stage not in TRIAL_STAGES:
            errors[field] = [
                "Only a version approved to staging can shadow production or take a canary share."
            ]
    if endpoint.canary_percent and endpoint.canary_version is None:
        errors["canary_percent"] = ["Choose a canary version first."]
    if endpoint.fallback == Fallback.FORWARD and not endpoint.fallback_url:
        errors["fallback_url"] = ["Forwarding to a fallback model needs its URL."]
    if endpoint.fallback == Fallback.REVIEW_QUEUE and endpoint.log_policy == LogPolicy.NONE:
        errors["fallback"] = [
            "The review queue shows the escalated request, so it needs a log policy that stores it."
        ]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], details=errors)


@transaction.atomic
def endpoint_publish(*, project: Project, user, slug: str, description: str = "", **settings) -> Endpoint:
    """Publish the project as an endpoint serving its production version; the routing threshold starts
    at the suggested one unless given, and the log policy follows the charter's data classes."""
    require(user, project.team, Action.PUBLISH_ENDPOINTS)
    version = production_version(project)
    if version is None:
        raise Conflict(
            "This project has no production version yet: promote a version before publishing.",
            code="no_production_version",
        )
    unknown = set(settings) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown endpoint settings: {', '.join(sorted(unknown))}.")
    if "routing_threshold" not in settings:
        settings["routing_threshold"] = routing_threshold_suggest(project=project, version=version)
    settings.setdefault("log_policy", _default_log_policy(project))
    if settings["log_policy"] == LogPolicy.NONE:
        settings.setdefault("fallback", Fallback.NONE)
    if slug in RESERVED_SLUGS:
        raise InvalidInput(
            f"“{slug}” names a page of the studio; choose another slug.", details={"slug": ["Reserved."]}
        )
    if Endpoint.objects.filter(slug=slug).exists():
        raise Conflict(SLUG_TAKEN, code="slug_taken", details={"slug": [SLUG_TAKEN]})
    endpoint = Endpoint(project=project, slug=slug, description=description, created_by=user, **settings)
    _check_settings(endpoint)
    endpoint.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError as error:  # a concurrent publish took the slug between the check and the save
        raise Conflict(SLUG_TAKEN, code="slug_taken", details={"slug": [SLUG_TAKEN]}) from error
    audit_event_record(
        actor=user,
        action="endpoint.publish",
        target=endpoint,
        payload={
            "slug": endpoint.slug,
            "project": project.pk,
            "production_version": version.number,
            "routing_threshold": endpoint.routing_threshold,
            "fallback": endpoint.fallback,
            "log_policy": endpoint.log_policy,
        },
    )
    return endpoint


def _audit_value(value):
    return value.pk if isinstance(value, ModelVersion) else value


@transaction.atomic
def endpoint_update(*, endpoint: Endpoint, user, **data) -> Endpoint:
    """Change an endpoint's settings (routing, fallback, shadow/canary, limits, status)."""
    require(user, endpoint.project.team, Action.PUBLISH_ENDPOINTS)
    unknown = set(data) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown endpoint settings: {', '.join(sorted(unknown))}.")
    Endpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    before = {field: getattr(endpoint, field) for field in SETTINGS_FIELDS}
    for field, value in data.items():
        setattr(endpoint, field, value)
    try:
        _check_settings(endpoint)
    finally:  # model_update compares against the stored values and validates again
        for field, value in before.items():
            setattr(endpoint, field, value)
    changes = model_update(instance=endpoint, fields=SETTINGS_FIELDS, data=data)
    if changes:
        audit_event_record(
            actor=user,
            action="endpoint.update",
            target=endpoint,
            payload={field: [_audit_value(v) for v in pair] for field, pair in changes.items()},
        )
    return endpoint
