"""The inference process's view of the control plane (`serving.inference.control.DjangoControlPlane`) read
and written through the serving app's models, selectors and services."""

import pytest

from serving import services
from serving.choices import ReviewStatus, Route
from serving.inference.control import DjangoControlPlane, LogEntry
from serving.models import RequestLog, ReviewItem
from serving.tests.factories import project_in_production, published, staging_version
from training.choices import Stage
from training.models import ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(team, owner, settings):
    project, version = project_in_production(team=team, owner=owner, settings=settings)
    endpoint = published(project=project, user=owner, routing_threshold=0.5)
    key, secret = services.api_key_create(user=owner, team=team, name="helpdesk", endpoints=[endpoint])
    return endpoint, version, key, secret


def test_keys_states_and_logs_flow_through_the_control_plane(world, owner):
    endpoint, version, key, secret = world
    plane = DjangoControlPlane()

    grant = plane.authenticate(secret)
    assert grant.id == key.pk and grant.endpoints == {endpoint.slug} and grant.rate_limit_per_minute == 600
    assert plane.authenticate(secret + "x") is None

    state = plane.endpoint_states()[endpoint.slug]
    assert (
        state.production.id == version.pk
        and state.routing_threshold == 0.5
        and state.fallback == "review_queue"
    )

    staged = staging_version(version)
    services.endpoint_update(endpoint=endpoint, user=owner, shadow_version=staged)
    assert plane.endpoint_states()[endpoint.slug].shadow.id == staged.pk
    ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.RETIRED)
    ModelVersion.objects.filter(pk=staged.pk).update(stage=Stage.PRODUCTION)
    assert plane.endpoint_states()[endpoint.slug].production.id == staged.pk

    answer = LogEntry(
        endpoint_id=endpoint.pk,
        key_id=key.pk,
        version_id=staged.pk,
        latency_ms=42.0,
        status_code=200,
        route=Route.ESCALATE,
        confidence=0.3,
        input_text="Mail me at ann@corp.io about parcel 5",
        output_text="billing",
    )
    answer.row_id = plane.record(answer)
    shadow = LogEntry(
        endpoint_id=endpoint.pk,
        key_id=key.pk,
        version_id=version.pk,
        latency_ms=40.0,
        status_code=200,
        route=Route.SHADOW,
        output_text="shipping",
        shadow_of=answer,
    )
    plane.record(shadow)
    logged = RequestLog.objects.get(pk=answer.row_id)
    assert "<EMAIL>" in logged.input_text and logged.shadows.get().output_text == "shipping"
    assert ReviewItem.objects.get(request_log=logged).status == ReviewStatus.PENDING
    key.refresh_from_db()
    assert key.request_count == 1

    services.api_key_revoke(key=key, user=owner)
    assert plane.authenticate(secret) is None
