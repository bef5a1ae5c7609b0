"""CSRF on every page route from the URL resolver (Django admin and the token-authenticated API aside).

A team owner's browser session POSTs to every page with the world's objects in its path. Without a CSRF
token every POST is refused with 403 and nothing is stored; with the token no POST is refused for CSRF
(so the 403 really comes from the CSRF check, and the forms still work). A new page is swept as soon as
it is routed; its object comes from PAGE_OBJECTS in tests/test_outsider_routes.py.
"""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import get_resolver

from tests.api_world import World, build_world, stored_state
from tests.test_outsider_routes import PAGE_OBJECTS, PAGE_PARAMETER, _patterns

pytestmark = pytest.mark.django_db

NOT_PAGES = ("admin/", "api/")
OTHER_PARAMETERS = {
    "export": "jsonl",
    "task_id": "8d1e4c1a-3f6b-4f4e-9a57-2b8f0c7d9e10",
    "uidb64": "MQ",
    "token": "set-password",
}


def page_urls(world: World) -> list[str]:
    """Every page route's URL, its first id filled with the world's object of its prefix."""
    urls = set()
    for raw in _patterns(get_resolver().url_patterns):
        if raw.startswith(NOT_PAGES):
            continue
        names = [name for _, name in PAGE_PARAMETER.findall(raw)]
        template = "/" + PAGE_PARAMETER.sub(lambda m: "{" + m.group(2) + "}", raw)
        values = dict(OTHER_PARAMETERS)
        if names and names[0] not in OTHER_PARAMETERS:
            prefix = template[1 : template.index("{")]
            prefixes = [known for known in PAGE_OBJECTS if prefix.startswith(known)]
            assert prefixes, f"{template}: add its prefix to PAGE_OBJECTS in tests/test_outsider_routes.py"
            values[names[0]] = str(PAGE_OBJECTS[max(prefixes, key=len)](world))
        urls.add(template.format(**values))
    return sorted(urls)


@pytest.fixture
def world(owner, team, tmp_path) -> World:
    return build_world(owner=owner, team=team, tmp_path=tmp_path)


@pytest.fixture
def csrf_rejections(caplog):
    """The paths Django's CSRF check refused (it logs each refusal to django.security.csrf)."""
    caplog.set_level(logging.WARNING, logger="django.security.csrf")

    def paths() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == "django.security.csrf"]

    return paths


def test_the_sweep_finds_the_forms_it_must_cover(world):
    urls = page_urls(world)
    for expected in (
        "/accounts/login/",
        "/projects/new/",
        f"/promotions/{world.promotion.pk}/approve/",
        f"/endpoints/keys/{world.api_key.pk}/revoke/",
        f"/models/{world.model_version.pk}/retire/",
    ):
        assert expected in urls
    assert not [url for url in urls if url.startswith(("/admin/", "/api/"))]


def test_a_post_without_the_csrf_token_is_refused_on_every_page(world, csrf_rejections):
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(world.owner)
    before = stored_state()
    accepted = []
    for url in page_urls(world):
        response = browser.post(url, {"name": "Forged", "role": "owner", "comment": "forged"})
        if response.status_code != 403:
            accepted.append(f"POST {url}: {response.status_code}")
    assert not accepted, "POSTs without a CSRF token that were not refused:\n" + "\n".join(accepted)
    assert len(csrf_rejections()) == len(page_urls(world))
    assert stored_state() == before, "a POST without a CSRF token changed something"


def test_a_post_with_the_csrf_token_passes_the_csrf_check_on_every_page(world, csrf_rejections):
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    secret = _get_new_csrf_string()
    browser.cookies["csrftoken"] = secret
    refused = []
    for url in page_urls(world):
        with transaction.atomic():  # each POST may really act (revoke, retire, log out): undo it after
            browser.force_login(world.owner)
            browser.cookies["csrftoken"] = secret
            seen = len(csrf_rejections())
            response = browser.post(url, {"csrfmiddlewaretoken": secret})
            if len(csrf_rejections()) > seen:
                refused.append(f"POST {url}: {response.status_code} {csrf_rejections()[-1]}")
            transaction.set_rollback(True)
    assert not refused, "POSTs with a valid CSRF token refused by the CSRF check:\n" + "\n".join(refused)
