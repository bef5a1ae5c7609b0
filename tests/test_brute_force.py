"""Brute force: failed sign-ins lock the account and the address; failed bearer tokens throttle the address.

Both answer 429 with Retry-After and leave an audit event; the right password or token does not get
through while the lock holds.
"""

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from audit.models import AuditEvent
from conftest import PASSWORD
from projects.services import personal_access_token_create

pytestmark = pytest.mark.django_db


def sign_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def with_password(owner, viewer):
    for user in (owner, viewer):
        user.set_password(PASSWORD)
        user.save()
    return owner


@override_settings(AXES_FAILURE_LIMIT=5)
def test_wrong_passwords_lock_the_account_even_for_the_right_password(client, with_password):
    for _ in range(4):
        assert sign_in(client, "olivia", "guess").status_code == 200  # the form again, with its error
    locked = sign_in(client, "olivia", "guess")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    assert b"Too many failed sign-ins" in locked.content

    right = sign_in(client, "olivia", PASSWORD)
    assert right.status_code == 429
    assert client.get("/team/").status_code == 302  # still signed out
    # ... from any address: the account itself is locked
    assert sign_in(client, "olivia", PASSWORD, address="198.51.100.9").status_code == 429
    # another account from another address signs in as usual
    assert sign_in(client, "victor", PASSWORD, address="198.51.100.9").status_code == 302

    event = AuditEvent.objects.filter(action="auth.sign_in_locked_out").first()
    assert event is not None and event.payload["username"] == "olivia"
    assert not AuditEvent.objects.filter(action="auth.sign_in", actor__username="olivia").exists()


@override_settings(AXES_FAILURE_LIMIT=5)
def test_one_address_guessing_many_accounts_is_locked_out(client, with_password):
    for name in ("a1", "a2", "a3", "a4", "a5"):
        sign_in(client, name, "guess")
    # a real account with its right password, from the guessing address: refused
    assert sign_in(client, "victor", PASSWORD).status_code == 429
    # the same account from elsewhere is not locked
    assert sign_in(client, "victor", PASSWORD, address="198.51.100.9").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=5)
def test_a_right_password_below_the_limit_resets_the_count(client, with_password):
    for _ in range(4):
        sign_in(client, "olivia", "guess")
    assert sign_in(client, "olivia", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "olivia", "guess")
    assert sign_in(client, "olivia", PASSWORD).status_code == 302


@pytest.fixture
def few_bearer_failures():
    cache.clear()
    with override_settings(STUDIO_FAILED_BEARER_RATE="5/minute"):
        yield
    cache.clear()


def bearer(secret: str, address: str = "203.0.113.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_random_bearer_tokens_are_throttled_per_address(owner, few_bearer_failures):
    _, secret = personal_access_token_create(user=owner, name="ci")
    statuses = [bearer(f"slm_pat_guess{i}").get("/api/v1/teams/").status_code for i in range(5)]
    assert statuses == [401] * 5

    throttled = bearer("slm_pat_guess6").get("/api/v1/teams/")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert throttled.json()["error"]["code"] == "throttled"
    # while throttled, even a right guess answers 429 (nothing to learn from the answers)
    assert bearer(secret).get("/api/v1/teams/").status_code == 429
    # another address with the right token is unaffected, and so is the browser session
    assert bearer(secret, address="198.51.100.9").get("/api/v1/teams/").status_code == 200

    events = AuditEvent.objects.filter(action="auth.bearer_throttled")
    assert events.count() == 1 and events.get().payload["ip"] == "203.0.113.7"


def test_successful_bearer_requests_do_not_count(owner, few_bearer_failures):
    _, secret = personal_access_token_create(user=owner, name="ci")
    assert all(bearer(secret).get("/api/v1/teams/").status_code == 200 for _ in range(10))
    assert bearer("slm_pat_wrong").get("/api/v1/teams/").status_code == 401


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(few_bearer_failures):
    for i in range(5):
        client = bearer(f"slm_pat_guess{i}")
        assert client.get("/api/v1/teams/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code == 401
    assert bearer("x").get("/api/v1/teams/", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429
