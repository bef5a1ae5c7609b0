"""The web process under the production profile (`studio.settings.production`, as `.env.example` sets it
up), as a browser and an API client meet it: cookies a script cannot read and that travel only over
HTTPS, HTTP sent to HTTPS, and error answers (400, 401, 403, 404 and a 500 from a failing database) that
show neither a stack trace, nor the failure's internals, nor a banner naming the server's software or
its version.

The production settings module is imported as written, with the example environment; its security
settings are then applied to the test client's requests (the database and storage stay the test's).
`manage.py check --deploy` under the same profile is tests/test_platform.py's.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import django
import pytest
from django.conf import global_settings
from django.db import DatabaseError
from django.test import Client, override_settings

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HOST = "studio.example.internal"
# Security-relevant settings the production profile sets (anything about the database or storage aside).
APPLIED = re.compile(r"^(DEBUG|ALLOWED_HOSTS|SECURE_\w+|SESSION_COOKIE_\w+|CSRF_COOKIE_\w+|X_FRAME_OPTIONS)$")
INTERNALS = "could not connect to server at 10.0.4.7:5432: password authentication failed for user studio_rw"


@pytest.fixture(scope="module")
def production_settings() -> dict:
    """The production module's settings, imported as written under the example environment."""
    return production_module_settings()


def production_module_settings(**environment: str) -> dict:
    example = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name] = value
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS"):
            patch.setenv(name, example[name])
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.delitem(sys.modules, "studio.settings.production", raising=False)
        module = importlib.import_module("studio.settings.production")
        # what the module sets, and Django's defaults for what it leaves alone
        names = {name for name in (*dir(module), *dir(global_settings)) if APPLIED.match(name)}
        values = {name: getattr(module, name, getattr(global_settings, name, None)) for name in names}
        sys.modules.pop("studio.settings.production", None)
    return values


@pytest.fixture
def production(production_settings):
    with override_settings(**production_settings):
        yield production_settings


def cookie(response, name: str) -> dict:
    raw = response.cookies[name]
    return {"secure": raw["secure"], "httponly": raw["httponly"], "samesite": raw["samesite"]}


def test_the_production_profile_is_the_hardened_one(production):
    assert production["DEBUG"] is False
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"]
    assert production["SECURE_SSL_REDIRECT"] and production["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert production["ALLOWED_HOSTS"] == [HOST]


def test_signing_in_over_https_sets_cookies_scripts_cannot_read_and_http_is_sent_to_https(production, owner):
    browser = Client(HTTP_HOST=HOST)
    plain = browser.get("/accounts/login/")
    form = browser.get("/accounts/login/", secure=True)
    signed_in = browser.post(
        "/accounts/login/", {"username": owner.username, "password": PASSWORD}, secure=True
    )

    assert plain.status_code == 301 and plain["Location"] == f"https://{HOST}/accounts/login/"
    assert form.status_code == 200
    assert "max-age=31536000" in form["Strict-Transport-Security"]
    assert signed_in.status_code == 302, signed_in.content[:300]
    assert cookie(signed_in, "sessionid") == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert cookie(form, "csrftoken") == {"secure": True, "httponly": True, "samesite": "Lax"}


def test_the_health_probe_answers_a_container_probe_by_ip_over_plain_http(production):
    """docker-compose's probe: http://127.0.0.1:8000/healthz, a host not in ALLOWED_HOSTS and no TLS."""
    probe = Client(HTTP_HOST="127.0.0.1:8000").get("/healthz")
    assert probe.status_code == 200 and probe.json() == {"status": "ok", "database": "ok"}
    assert Client(HTTP_HOST="127.0.0.1:8000").get("/accounts/login/").status_code == 400  # the rest: checked


def test_plain_http_for_a_trial_turns_off_the_redirect_secure_cookies_and_hsts(owner):
    trial = production_module_settings(DJANGO_HTTPS="false")
    assert not trial["SECURE_SSL_REDIRECT"] and not trial["SESSION_COOKIE_SECURE"]
    assert not trial["CSRF_COOKIE_SECURE"] and trial["SECURE_HSTS_SECONDS"] == 0
    with override_settings(**trial):
        browser = Client(HTTP_HOST=HOST)
        assert browser.get("/accounts/login/").status_code == 200
        signed_in = browser.post("/accounts/login/", {"username": owner.username, "password": PASSWORD})
        assert signed_in.status_code == 302, signed_in.content[:300]
        assert browser.get("/projects/").status_code == 200  # the session cookie came back over http


@pytest.fixture
def failing_database(monkeypatch):
    """The database fails in the middle of a request, its driver's message naming the server's internals."""
    from projects import selectors

    def fail(*args, **kwargs):
        raise DatabaseError(INTERNALS)

    monkeypatch.setattr(selectors, "project_summary_list", fail)
    monkeypatch.setattr(selectors, "project_list", fail)


def test_error_answers_show_no_stack_trace_internals_or_server_banner(production, owner, failing_database):
    browser = Client(HTTP_HOST=HOST, raise_request_exception=False)
    browser.force_login(owner)
    api = Client(HTTP_HOST=HOST, raise_request_exception=False)
    answers = {
        "a page that does not exist": browser.get("/no-such-page/", secure=True),
        "an API path that does not exist": browser.get("/api/v1/no-such-resource/", secure=True),
        "the API without credentials": api.get("/api/v1/projects/", secure=True),
        "the API with a wrong token": api.get(
            "/api/v1/projects/", secure=True, HTTP_AUTHORIZATION="Bearer slm_pat_not-a-token"
        ),
        "a form posted without its CSRF token": Client(
            HTTP_HOST=HOST, enforce_csrf_checks=True, raise_request_exception=False
        ).post("/accounts/login/", {"username": "x", "password": "y"}, secure=True),
        "a host the studio does not serve": Client(
            HTTP_HOST="evil.example", raise_request_exception=False
        ).get("/accounts/login/", secure=True),
        "a page when the database fails": browser.get("/projects/", secure=True),
        "the API when the database fails": browser.get("/api/v1/projects/", secure=True),
    }

    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert statuses == {
        "a page that does not exist": 404,
        "an API path that does not exist": 404,
        "the API without credentials": 401,
        "the API with a wrong token": 401,
        "a form posted without its CSRF token": 403,
        "a host the studio does not serve": 400,
        "a page when the database fails": 500,
        "the API when the database fails": 500,
    }
    assert answers["the API when the database fails"].json()["error"]["code"] == "server_error"
    assert "This form has expired" in answers["a form posted without its CSRF token"].content.decode()
    banners = re.compile(
        r"Traceback|File \"|\.py\b|Django|DEBUG|Python|WSGI|gunicorn|Werkzeug|django\.|/work/|\d+\.\d+\.\d+"
    )
    for what, answer in answers.items():
        text = answer.content.decode()
        assert "10.0.4.7" not in text and "studio_rw" not in text, f"{what}: the failure's internals shown"
        assert not banners.search(text), f"{what}: {banners.search(text).group()!r} in {text[:500]}"
        assert "Server" not in answer.headers and "X-Powered-By" not in answer.headers, (
            f"{what}: {answer.headers}"
        )
        assert django.get_version() not in str(answer.headers)
