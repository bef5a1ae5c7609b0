"""API keys: shown once, stored hashed, checked in constant time, revoked at once, every action audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from serving import selectors, services
from serving.choices import Route
from serving.models import ApiKey
from serving.tests.factories import project_in_production, published
from studio.errors import Forbidden, InvalidInput, NotFound

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(team, owner, settings):
    project, _ = project_in_production(team=team, owner=owner, settings=settings)
    return published(project=project, user=owner)


def test_a_key_is_shown_once_and_only_its_hash_is_stored(endpoint, owner):
    key, secret = services.api_key_create(
        user=owner, team=endpoint.project.team, name="helpdesk", endpoints=[endpoint]
    )
    assert secret.startswith("slm_") and len(secret) > 40
    assert key.prefix == secret[:8]
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.secret_hash == ApiKey.hash_secret(secret)
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert not any(secret in str(value) for value in row.values())
    assert not any(secret in str(event.payload) for event in AuditEvent.objects.all())


def test_authenticate_accepts_the_secret_and_refuses_anything_else(endpoint, owner):
    key, secret = services.api_key_create(
        user=owner, team=endpoint.project.team, name="helpdesk", endpoints=[endpoint]
    )
    assert services.api_key_authenticate(secret) == key
    for wrong in (secret[:-1], secret + "x", "", "slm_" + "a" * 300, key.secret_hash, "\ud800"):
        assert services.api_key_authenticate(wrong) is None
    assert list(selectors.api_key_endpoints(key)) == [endpoint]
    assert selectors.api_key_may_call(key, endpoint)


def test_a_revoked_or_expired_key_is_refused_on_the_next_request(endpoint, owner):
    key, secret = services.api_key_create(
        user=owner, team=endpoint.project.team, name="helpdesk", endpoints=[endpoint]
    )
    services.api_key_revoke(key=key, user=owner)
    assert services.api_key_authenticate(secret) is None
    services.api_key_revoke(key=key, user=owner)  # revoking twice changes nothing and audits once
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1

    soon = timezone.now() + timedelta(seconds=30)
    expiring, secret = services.api_key_create(
        user=owner, team=endpoint.project.team, name="batch", endpoints=[endpoint], expires_at=soon
    )
    assert services.api_key_authenticate(secret) == expiring
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.api_key_authenticate(secret) is None


def test_every_key_action_is_audited(endpoint, owner):
    key, _ = services.api_key_create(
        user=owner, team=endpoint.project.team, name="helpdesk", endpoints=[endpoint]
    )
    services.api_key_revoke(key=key, user=owner)
    events = AuditEvent.objects.filter(target_type="serving.apikey", target_id=str(key.pk)).order_by("pk")
    assert [event.action for event in events] == ["api_key.create", "api_key.revoke"]
    assert events[0].payload["endpoints"] == [endpoint.slug]
    assert events[0].actor == owner and events[0].team == endpoint.project.team


def test_only_team_owners_manage_keys(endpoint, ml_engineer, viewer, owner):
    for user in (ml_engineer, viewer):
        with pytest.raises(Forbidden):
            services.api_key_create(user=user, team=endpoint.project.team, name="x", endpoints=[endpoint])
    key, _ = services.api_key_create(user=owner, team=endpoint.project.team, name="x", endpoints=[endpoint])
    with pytest.raises(Forbidden):
        services.api_key_revoke(key=key, user=ml_engineer)


def test_keys_name_endpoints_of_their_own_team_only(endpoint, owner, other_team, outsider, settings):
    other_project, _ = project_in_production(
        team=other_team, owner=outsider, settings=settings, slug="contracts"
    )
    theirs = published(project=other_project, user=outsider)
    with pytest.raises(NotFound):
        services.api_key_create(
            user=owner, team=endpoint.project.team, name="x", endpoints=[endpoint, theirs]
        )
    with pytest.raises(InvalidInput):
        services.api_key_create(user=owner, team=endpoint.project.team, name="x", endpoints=[])
    with pytest.raises(InvalidInput):
        services.api_key_create(
            user=owner,
            team=endpoint.project.team,
            name="x",
            endpoints=[endpoint],
            expires_at=timezone.now() - timedelta(days=1),
        )


def test_usage_is_counted_per_key_when_requests_are_logged(endpoint, owner):
    key, _ = services.api_key_create(
        user=owner, team=endpoint.project.team, name="helpdesk", endpoints=[endpoint]
    )
    for _ in range(3):
        services.request_log_record(endpoint=endpoint, api_key=key, status_code=200, route=Route.ANSWER)
    services.request_log_record(endpoint=endpoint, api_key=key, status_code=200, route=Route.SHADOW)
    key.refresh_from_db()
    assert key.request_count == 3
    assert key.last_used_at is not None
