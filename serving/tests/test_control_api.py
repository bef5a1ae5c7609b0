"""The endpoints and API-keys REST resources: publish, configure, keys shown once, revoke, outsider 404."""

import pytest

from audit.models import AuditEvent
from serving import services
from serving.models import ApiKey, Endpoint
from serving.tests.factories import project_in_production, staging_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(team, owner, settings):
    return project_in_production(team=team, owner=owner, settings=settings, confidence_threshold=0.7)


def publish(api, project, slug="support-intents", **fields):
    return api.post("/api/v1/endpoints/", {"project": project.pk, "slug": slug, **fields}, format="json")


def test_publish_list_retrieve_and_configure(api, production, ml_engineer):
    project, version = production
    api.as_user(ml_engineer)
    created = publish(api, project, description="Routes support mail", fallback="none")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["slug"] == "support-intents" and body["production_version"] == version.pk
    assert body["routing_threshold"] == 0.7 and body["fallback"] == "none"

    listed = api.get("/api/v1/endpoints/", {"team": project.team.slug}).json()["results"]
    assert [item["slug"] for item in listed] == ["support-intents"]

    staged = staging_version(version)
    patched = api.patch(
        "/api/v1/endpoints/support-intents/",
        {"routing_threshold": 0.55, "shadow_version": staged.pk, "max_tokens_cap": 128},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["shadow_version"] == staged.pk and patched.json()["routing_threshold"] == 0.55
    assert api.get("/api/v1/endpoints/support-intents/").json()["max_tokens_cap"] == 128


def test_publish_errors_name_their_cause(api, production, owner, product_owner):
    project, _ = production
    api.as_user(owner)
    assert publish(api, project).status_code == 201
    taken = publish(api, project)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slug_taken"
    bad = publish(api, project, slug="Not A Slug")
    assert bad.status_code == 400 and "slug" in bad.json()["error"]["details"]
    forward = publish(api, project, slug="other", fallback="forward")
    assert forward.status_code == 400 and "fallback_url" in forward.json()["error"]["details"]
    api.as_user(product_owner)
    assert publish(api, project, slug="third").status_code == 403


def test_a_key_is_shown_once_listed_without_its_secret_and_revoked(api, production, owner):
    project, _ = production
    api.as_user(owner)
    publish(api, project)
    created = api.post(
        "/api/v1/endpoints/support-intents/keys/",
        {"name": "helpdesk", "rate_limit_per_minute": 60},
        format="json",
    )
    assert created.status_code == 201, created.json()
    secret = created.json()["key"]
    key = ApiKey.objects.get(pk=created.json()["id"])
    assert key.secret_hash == ApiKey.hash_secret(secret) and key.rate_limit_per_minute == 60
    assert services.api_key_authenticate(secret) == key

    listed = api.get("/api/v1/endpoints/support-intents/keys/").json()["results"]
    assert [item["prefix"] for item in listed] == [secret[:8]]
    assert secret not in str(listed) and secret not in str(api.get(f"/api/v1/api-keys/{key.pk}/").json())

    revoked = api.post(f"/api/v1/api-keys/{key.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert services.api_key_authenticate(secret) is None
    actions = list(
        AuditEvent.objects.filter(target_type="serving.apikey")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["api_key.create", "api_key.revoke"]


def test_only_owners_manage_keys(api, production, owner, ml_engineer):
    project, _ = production
    api.as_user(owner)
    publish(api, project)
    api.as_user(ml_engineer)
    refused = api.post("/api/v1/endpoints/support-intents/keys/", {"name": "x"}, format="json")
    assert refused.status_code == 403
    assert not ApiKey.objects.exists()


def test_outsiders_get_404_for_endpoints_and_keys(api, production, owner, outsider, settings, other_team):
    project, _ = production
    api.as_user(owner)
    publish(api, project)
    key_id = api.post("/api/v1/endpoints/support-intents/keys/", {"name": "x"}, format="json").json()["id"]

    api.as_user(outsider)
    missing = api.get("/api/v1/endpoints/no-such-endpoint/")
    assert missing.status_code == 404
    assert api.get("/api/v1/endpoints/support-intents/").json() == missing.json()
    assert (
        api.patch("/api/v1/endpoints/support-intents/", {"status": "paused"}, format="json").status_code
        == 404
    )
    assert api.get("/api/v1/endpoints/support-intents/keys/").status_code == 404
    assert (
        api.post("/api/v1/endpoints/support-intents/keys/", {"name": "y"}, format="json").status_code == 404
    )
    assert api.get(f"/api/v1/api-keys/{key_id}/").status_code == 404
    assert api.post(f"/api/v1/api-keys/{key_id}/revoke/").status_code == 404
    assert api.get("/api/v1/endpoints/").json()["results"] == []
    assert api.get("/api/v1/api-keys/").json()["results"] == []
    assert publish(api, project, slug="stolen").status_code == 404

    # nor can a key of theirs name our endpoint
    their_project, _ = project_in_production(
        team=other_team, owner=outsider, settings=settings, slug="contracts"
    )
    assert publish(api, their_project, slug="contracts").status_code == 201
    sneaky = api.post(
        "/api/v1/endpoints/contracts/keys/",
        {"name": "z", "also_endpoints": ["support-intents"]},
        format="json",
    )
    assert sneaky.status_code == 404
    assert Endpoint.objects.get(slug="support-intents").status == "active"
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1


def test_endpoint_and_key_lists_use_a_constant_number_of_queries(
    api, production, owner, team, settings, django_assert_max_num_queries
):
    project, _ = production
    api.as_user(owner)
    for slug in ("one", "two", "three"):
        publish(api, project, slug=slug)
        api.post(f"/api/v1/endpoints/{slug}/keys/", {"name": slug, "also_endpoints": ["one"]}, format="json")
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/endpoints/").json()["results"]) == 3
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/api-keys/").json()["results"]) == 3


def test_a_leaked_token_cannot_leave_endpoint_keys_behind(api, client, production, owner):
    """Endpoint keys are credentials too: a plain access token cannot create or revoke them; one that may
    manage tokens can, and every key it created stops working when that token is revoked."""
    from rest_framework.test import APIClient

    from projects.services import personal_access_token_create

    project, _ = production
    publish(api.as_user(owner), project)
    _, plain = personal_access_token_create(user=owner, name="ci")
    _, rotator = personal_access_token_create(user=owner, name="rotator", can_manage_tokens=True)

    def bearer(secret):
        caller = APIClient()
        caller.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return caller

    refused = bearer(plain).post(
        "/api/v1/endpoints/support-intents/keys/", {"name": "backdoor"}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "token_scope"
    assert not ApiKey.objects.exists()

    minted = bearer(rotator).post(
        "/api/v1/endpoints/support-intents/keys/", {"name": "helpdesk"}, format="json"
    )
    assert minted.status_code == 201
    secret = minted.json()["key"]
    assert services.api_key_authenticate(secret) is not None
    assert bearer(plain).post(f"/api/v1/api-keys/{minted.json()['id']}/revoke/").status_code == 403

    client.force_login(owner)
    rotator_token = owner.access_tokens.get(name="rotator")
    client.post(f"/tokens/{rotator_token.pk}/revoke/")
    assert services.api_key_authenticate(secret) is None
    assert api.as_user(owner).get(f"/api/v1/api-keys/{minted.json()['id']}/").json()["status"] == "revoked"
