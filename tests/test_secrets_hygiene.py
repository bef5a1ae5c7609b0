"""Secrets never leave the request that carries them: not in the logs, not in Celery task payloads, not
in any stored row (audit events and request logs included; tokens and keys are stored hashed).

The secrets: a password (set through the password-change form, then used to sign in and mistyped once),
a personal access token and an endpoint API key (both created through the API). The token then
authenticates a baseline request to every write operation of the API, so every task the API enqueues
is published (recorded, not sent) and every logger the requests reach has its say.
"""

from __future__ import annotations

import pytest
from celery.app.task import Task
from django.db import connection

from tests.api_world import baseline_body, build_world, operations, studio_models
from tests.test_bad_input_generated import Probe, send
from tests.test_mass_assignment import WRITES

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Zebra-Quartz-7781-secret"


class Published:
    def __init__(self, task_id: str):
        self.id = task_id


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """Every task the code enqueues: name, args and kwargs, as the broker would carry them."""
    seen: list[str] = []

    def apply_async(self, args=None, kwargs=None, **options):
        seen.append(f"{self.name} args={args!r} kwargs={kwargs!r} options={options!r}")
        return Published("8d1e4c1a-3f6b-4f4e-9a57-2b8f0c7d9e10")

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return seen


def stored_rows() -> str:
    with connection.cursor() as cursor:
        dump = []
        for model in studio_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            dump.append(repr(cursor.fetchall()))
    return "\n".join(dump)


def test_passwords_tokens_and_api_keys_stay_out_of_logs_task_payloads_and_rows(
    client, api, owner, team, tmp_path, published, logged, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        world = build_world(owner=owner, team=team, tmp_path=tmp_path)

        client.force_login(owner)
        changed = client.post(
            "/accounts/password_change/",
            {"old_password": "pw-for-tests", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert changed.status_code == 302, changed.content[:300]
        client.logout()
        assert client.post("/accounts/login/", {"username": owner.username, "password": NEW_PASSWORD + "x"})
        signed_in = client.post("/accounts/login/", {"username": owner.username, "password": NEW_PASSWORD})
        assert signed_in.status_code == 302

        api.as_user(owner)
        token = api.post("/api/v1/tokens/", {"name": "Hygiene"}, format="json").json()["token"]
        key = api.post(
            f"/api/v1/endpoints/{world.endpoint.slug}/keys/", {"name": "Desk"}, format="json"
        ).json()["key"]
        api.force_authenticate(user=None)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        api.raise_request_exception = False
        accepted = 0
        for op in operations():
            if op.method in WRITES:
                body = baseline_body(op.body, world) if op.body else {}
                accepted += send(api, op, Probe("hygiene", body=body), world).status_code < 300

    assert accepted > 10, "the token did not authenticate the sweep"
    assert published, "no task was enqueued: the sweep did not reach the code that enqueues"
    assert logged, "nothing was logged: the capture saw no logger"
    secrets = {"password": NEW_PASSWORD, "access token": token, "API key": key}
    rows = stored_rows()
    leaks = [
        f"the {kind} in {where}: {text[:300]}"
        for kind, secret in secrets.items()
        for where, texts in (("the logs", logged), ("a task payload", published), ("a stored row", [rows]))
        for text in texts
        if secret in text
    ]
    assert not leaks, "\n".join(leaks)
