"""Publishing, routing settings, the request log's PII policy, and the data plane's view of an endpoint."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from serving import selectors, services
from serving.choices import Fallback, LogPolicy, ReviewStatus, Route
from serving.models import Endpoint, ReviewItem
from serving.tests.factories import project_in_production, published, staging_version
from studio.errors import Conflict, Forbidden, InvalidInput
from training.choices import Stage
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(team, owner, settings):
    return project_in_production(team=team, owner=owner, settings=settings, confidence_threshold=0.6)


def test_owner_or_ml_engineer_publishes_a_project_in_production(
    production, owner, ml_engineer, product_owner, viewer
):
    project, version = production
    endpoint = published(project=project, user=ml_engineer, description="Routes support mail")
    assert endpoint.routing_threshold == 0.6  # from the charter: no eval run has a coverage curve yet
    assert endpoint.log_policy == LogPolicy.REDACTED and endpoint.fallback == Fallback.REVIEW_QUEUE
    event = AuditEvent.objects.get(action="endpoint.publish")
    assert event.payload["production_version"] == version.number
    for user in (product_owner, viewer):
        with pytest.raises(Forbidden):
            published(project=project, user=user, slug="another")


def test_a_project_without_a_production_version_cannot_be_published(production, owner):
    project, version = production
    ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.STAGING)
    with pytest.raises(Conflict) as error:
        published(project=project, user=owner)
    assert error.value.code == "no_production_version"
    assert not Endpoint.objects.exists()


def test_slugs_are_unique_and_validated(production, owner):
    project, _ = production
    published(project=project, user=owner, slug="support")
    with pytest.raises(Conflict):
        published(project=project, user=owner, slug="support")
    for bad in ("Support", "two--hyphens", "-lead", "space here", "x" * 61):
        with pytest.raises(ValidationError):
            published(project=project, user=owner, slug=bad)


def test_settings_that_contradict_each_other_are_refused(production, owner):
    project, version = production
    endpoint = published(project=project, user=owner)
    with pytest.raises(InvalidInput):
        services.endpoint_update(endpoint=endpoint, user=owner, fallback=Fallback.FORWARD)
    with pytest.raises(InvalidInput):
        services.endpoint_update(endpoint=endpoint, user=owner, canary_percent=10)
    with pytest.raises(ValidationError):
        services.endpoint_update(endpoint=endpoint, user=owner, routing_threshold=1.5)
    candidate = staging_version(version)
    ModelVersion.objects.filter(pk=candidate.pk).update(stage=Stage.CANDIDATE)
    candidate.refresh_from_db()
    with pytest.raises(InvalidInput):
        services.endpoint_update(endpoint=endpoint, user=owner, shadow_version=candidate)
    endpoint.refresh_from_db()
    assert endpoint.fallback == Fallback.REVIEW_QUEUE and endpoint.shadow_version is None


def test_serving_state_names_production_shadow_and_canary(production, owner):
    project, version = production
    endpoint = published(project=project, user=owner)
    staged = staging_version(version)
    services.endpoint_update(
        endpoint=endpoint,
        user=owner,
        shadow_version=staged,
        canary_version=staged,
        canary_percent=10,
        fallback=Fallback.FORWARD,
        fallback_url="http://127.0.0.1:9/v1",
    )
    state = selectors.endpoint_serving_state(endpoint.slug)
    assert state.production == version and state.shadow == staged and state.canary == staged
    assert state.canary_percent == 10 and state.servable
    update = AuditEvent.objects.get(action="endpoint.update")
    assert update.payload["shadow_version"] == [None, staged.pk]
    assert selectors.endpoint_serving_state("no-such-endpoint") is None

    # a promotion switches what the endpoint serves with no change to the endpoint itself
    ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.RETIRED)
    ModelVersion.objects.filter(pk=staged.pk).update(stage=Stage.PRODUCTION)
    assert selectors.endpoint_serving_state(endpoint.slug).production == staged


def test_the_request_log_redacts_pii_or_stores_nothing(production, owner):
    project, version = production
    endpoint = published(project=project, user=owner)
    log = services.request_log_record(
        endpoint=endpoint,
        model_version=version,
        status_code=200,
        input_text="Refund to jane.doe@acme.io please, card 4111 1111 1111 1111",
        output_text="billing",
        confidence=0.93,
    )
    assert "jane.doe@acme.io" not in log.input_text and "<EMAIL>" in log.input_text
    assert "4111" not in log.input_text and "<CARD>" in log.input_text
    services.endpoint_update(endpoint=endpoint, user=owner, log_policy=LogPolicy.NONE, fallback=Fallback.NONE)
    silent = services.request_log_record(
        endpoint=endpoint, status_code=200, input_text="jane.doe@acme.io", output_text="billing"
    )
    assert silent.input_text == "" and silent.output_text == ""


def test_special_category_data_is_never_logged(team, owner, settings):
    project, _ = project_in_production(
        team=team, owner=owner, settings=settings, slug="health", data_classes=["special_category"]
    )
    endpoint = published(project=project, user=owner)
    assert endpoint.log_policy == LogPolicy.NONE and endpoint.fallback == Fallback.NONE


def test_an_escalated_answer_opens_a_review_item(production, owner):
    project, version = production
    endpoint = published(project=project, user=owner)
    answered = services.request_log_record(
        endpoint=endpoint, status_code=200, route=Route.ANSWER, confidence=0.9
    )
    escalated = services.request_log_record(
        endpoint=endpoint,
        model_version=version,
        status_code=200,
        route=Route.ESCALATE,
        confidence=0.3,
        input_text="Where is my parcel 12?",
        output_text="billing",
    )
    assert not ReviewItem.objects.filter(request_log=answered).exists()
    item = ReviewItem.objects.get(request_log=escalated)
    assert item.status == ReviewStatus.PENDING and item.endpoint == endpoint


def test_request_logs_past_retention_are_purged_with_their_review_items(production, owner, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    project, _ = production
    endpoint = published(project=project, user=owner)
    settings.STUDIO_SERVING_LOG_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    stale = services.request_log_record(
        endpoint=endpoint, status_code=200, route=Route.ESCALATE, created_at=old
    )
    services.request_log_record(
        endpoint=endpoint, status_code=200, route=Route.SHADOW, shadow_of=stale, created_at=old
    )
    fresh = services.request_log_record(endpoint=endpoint, status_code=200, route=Route.ESCALATE)
    call_command("serving_purge_logs")
    assert list(endpoint.request_logs.values_list("pk", flat=True)) == [fresh.pk]
    assert list(ReviewItem.objects.values_list("request_log_id", flat=True)) == [fresh.pk]
    assert AuditEvent.objects.get(action="request_log.purge").payload["deleted_rows"] == 2


def test_the_threshold_starts_where_the_eval_run_reaches_the_charters_accuracy_target(team, owner, settings):
    from evaluation.models import EvalRun, EvalSpec

    project, version = project_in_production(
        team=team,
        owner=owner,
        settings=settings,
        confidence_threshold=0.6,
        success_measures=[{"metric": "accuracy", "baseline": 0.6, "target": 0.95}],
    )
    spec = EvalSpec.objects.create(project=project, version=1, gates=[], created_by=owner, sha256="a" * 64)
    curve = [
        {"threshold": 0.2, "coverage": 1.0, "accuracy": 0.81, "count": 100},
        {"threshold": 0.55, "coverage": 0.8, "accuracy": 0.93, "count": 80},
        {"threshold": 0.72, "coverage": 0.6, "accuracy": 0.96, "count": 60},
        {"threshold": 0.9, "coverage": 0.3, "accuracy": 0.99, "count": 30},
    ]
    EvalRun.objects.create(
        project=project,
        spec=spec,
        model_version=version,
        created_by=owner,
        status="failed",
        coverage_curve=[],
    )
    EvalRun.objects.create(
        project=project,
        spec=spec,
        model_version=version,
        created_by=owner,
        status="succeeded",
        coverage_curve=curve,
    )
    assert services.routing_threshold_suggest(project=project, version=version) == 0.72
    assert published(project=project, user=owner).routing_threshold == 0.72

    other, other_version = project_in_production(
        team=team, owner=owner, settings=settings, slug="legal", confidence_threshold=0.6
    )
    assert (
        services.routing_threshold_suggest(project=other, version=other_version) == 0.6
    )  # no eval run: the charter's
