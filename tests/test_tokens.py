"""Personal access tokens: Bearer auth for integrations, stored hashed, shown once, revocable, expirable."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from projects.models import PersonalAccessToken
from projects.services import personal_access_token_create, personal_access_token_revoke

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_token_authenticates_as_its_user(team, owner):
    _, secret = personal_access_token_create(user=owner, name="ci")
    response = bearer(secret).get("/api/v1/teams/")
    assert response.status_code == 200
    assert [t["slug"] for t in response.json()["results"]] == [team.slug]
    assert response.json()["results"][0]["my_role"] == "owner"


def test_tokens_are_stored_hashed_and_never_listed(api, owner):
    token, secret = personal_access_token_create(user=owner, name="ci")
    stored = PersonalAccessToken.objects.values().get(pk=token.pk)
    assert secret not in str(stored)
    assert stored["token_hash"] != secret and len(stored["token_hash"]) == 64
    listed = api.as_user(owner).get("/api/v1/tokens/").json()["results"]
    assert secret not in str(listed)
    assert listed[0]["token_prefix"] == secret[:12]


def test_created_token_is_shown_once_over_the_api(api, owner):
    created = api.as_user(owner).post("/api/v1/tokens/", {"name": "deploy"}, format="json")
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("slm_pat_")
    assert "token" not in api.get(f"/api/v1/tokens/{created.json()['id']}/").json()
    assert bearer(secret).get("/api/v1/teams/").status_code == 200


def test_revoked_token_gets_401(owner):
    token, secret = personal_access_token_create(user=owner, name="ci")
    personal_access_token_revoke(token=token, user=owner)
    response = bearer(secret).get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked token."
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_gets_401(owner):
    token, secret = personal_access_token_create(
        user=owner, name="ci", expires_at=timezone.now() + timedelta(days=1)
    )
    PersonalAccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(secret).get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This token has expired."


def test_unknown_or_malformed_token_gets_401(owner):
    assert bearer("slm_pat_not-a-real-token").get("/api/v1/teams/").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer two words")
    assert client.get("/api/v1/teams/").status_code == 401


def test_expiry_in_the_past_is_refused(api, owner):
    response = api.as_user(owner).post(
        "/api/v1/tokens/", {"name": "old", "expires_at": "2001-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert "expires_at" in response.json()["error"]["details"]
    assert not PersonalAccessToken.objects.exists()


def test_tokens_page_creates_shows_once_and_revokes(client, owner):
    client.force_login(owner)
    created = client.post("/tokens/", {"name": "notebook"})
    token = PersonalAccessToken.objects.get(name="notebook")
    secret = created.context["new_secret"]
    assert secret.encode() in created.content
    assert PersonalAccessToken.hash_secret(secret) == token.token_hash
    assert secret.encode() not in client.get("/tokens/").content
    client.post(f"/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.status == "revoked"
    assert bearer(secret).get("/api/v1/teams/").status_code == 401


def test_a_leaked_token_cannot_breed_and_revoking_it_ends_all_access(api, client, owner):
    """The leaked-token story: a plain token cannot mint or revoke tokens; a token that may manage tokens
    can, but everything it minted (at any depth) dies with it when its owner revokes it."""
    created = api.as_user(owner).post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    assert created["can_manage_tokens"] is False
    leaked = bearer(created["token"])

    refused = leaked.post("/api/v1/tokens/", {"name": "backdoor"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "token_scope"
    assert "Sign in to the studio" in refused.json()["error"]["message"]
    assert leaked.post(f"/api/v1/tokens/{created['id']}/revoke/").status_code == 403
    assert not PersonalAccessToken.objects.filter(name="backdoor").exists()
    assert leaked.get("/api/v1/teams/").status_code == 200  # the token still does its job

    rotator = (
        api.as_user(owner)
        .post("/api/v1/tokens/", {"name": "rotator", "can_manage_tokens": True}, format="json")
        .json()
    )
    attacker = bearer(rotator["token"])
    child = attacker.post("/api/v1/tokens/", {"name": "child", "can_manage_tokens": True}, format="json")
    assert child.status_code == 201 and child.json()["parent"] == rotator["id"]
    grandchild = bearer(child.json()["token"]).post("/api/v1/tokens/", {"name": "grandchild"}, format="json")
    assert grandchild.status_code == 201 and grandchild.json()["parent"] == child.json()["id"]
    minted = [bearer(child.json()["token"]), bearer(grandchild.json()["token"])]
    assert all(c.get("/api/v1/teams/").status_code == 200 for c in minted)

    client.force_login(owner)
    client.post(f"/tokens/{rotator['id']}/revoke/")
    for survivor in (attacker, *minted):
        assert survivor.get("/api/v1/teams/").status_code == 401
    assert leaked.get("/api/v1/teams/").status_code == 200  # an unrelated token is untouched

    revoked = dict(AuditEvent.objects.filter(action="token.revoke").values_list("target_id", "payload"))
    assert set(revoked) == {str(rotator["id"]), str(child.json()["id"]), str(grandchild.json()["id"])}
    assert revoked[str(grandchild.json()["id"])]["revoked_with"] == rotator["id"]


def test_a_minted_token_never_outlives_its_parent(owner):
    parent, _ = personal_access_token_create(
        user=owner, name="rotator", can_manage_tokens=True, expires_at=timezone.now() + timedelta(days=7)
    )
    child, _ = personal_access_token_create(user=owner, name="child", via_token=parent)
    longer, _ = personal_access_token_create(
        user=owner, name="longer", via_token=parent, expires_at=timezone.now() + timedelta(days=365)
    )
    assert child.expires_at == parent.expires_at == longer.expires_at
