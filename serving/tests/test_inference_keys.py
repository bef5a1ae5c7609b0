"""Endpoint API keys as the inference process checks them against the database (the real control plane):
a key calls only the endpoints it was made for, another team's endpoint answers like a missing one, a key
revoked through the management API or past its expiry is refused within a second, and no key's secret
reaches a log line, a stored row (request logs, audit events) or a response header. The answers carry no
banner naming the server software.

The app runs in a thread on a loopback port with the embedded engine (tiny random Llama adapters), as
`manage.py serve` configures it; the keys are made and revoked by the team owners over the REST API.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from serving.tests.inference_support import LiveServer, MemoryControl
from tests.api_world import studio_models


def _production(project, folder: Path, owner, base):
    from training.choices import Stage
    from training.models import ModelVersion

    storage = f"keys-test-{project.slug}"
    shutil.copytree(folder, settings.ARTIFACTS_DIR / "models" / storage, dirs_exist_ok=True)
    return ModelVersion.objects.create(
        project=project,
        number=1,
        base_model=base,
        storage_name=storage,
        training_config=json.loads((folder / "training_config.json").read_text()),
        stage=Stage.PRODUCTION,
        created_by=owner,
    )


@pytest.fixture
def endpoints(owner, team, outsider, other_team, versions, tiny_base):
    """`animals` and `greeter` in the team; `contracts` in another team (whose owner is `outsider`)."""
    from projects.tests.factories import ProjectFactory
    from serving.services import endpoint_publish
    from training.models import BaseModel

    base = BaseModel.objects.create(
        key="tiny-keys", name="Tiny random Llama", source_type="local_folder", source=str(tiny_base)
    )
    published = {}
    for slug, task, folder, team_of, user in (
        ("animals", "classification", versions["animals"], team, owner),
        ("greeter", "generation", versions["greeter"], team, owner),
        ("contracts", "classification", versions["animals"], other_team, outsider),
    ):
        project = ProjectFactory(team=team_of, slug=slug, task_type=task)
        _production(project, folder, user, base)
        published[slug] = endpoint_publish(project=project, user=user, slug=slug, routing_threshold=None)
    return published


@pytest.fixture
def live(endpoints):
    from serving.engine.embedded import EmbeddedEngine
    from serving.inference.app import build_app
    from serving.inference.config import InferenceConfig
    from serving.inference.control import DjangoControlPlane

    config = InferenceConfig(state_poll_seconds=0.1)
    with LiveServer(
        build_app(EmbeddedEngine(limits=config.limits, device="cpu"), DjangoControlPlane(), config)
    ) as server:
        deadline = time.monotonic() + 60
        while len(server.inference.deployments.table()) < 3:
            assert time.monotonic() < deadline, "the endpoints were never loaded"
            time.sleep(0.05)
        yield server


def make_key(api, user, slug: str, **fields) -> tuple[int, str]:
    api.force_authenticate(user=user)
    answer = api.post(f"/api/v1/endpoints/{slug}/keys/", {"name": "helpdesk", **fields}, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()["id"], answer.json()["key"]


def refused_within_a_second(live, key: str, slug: str) -> httpx.Response:
    start = time.monotonic()
    while (answer := ask(live, key, slug, "chat")).status_code == 200:
        assert time.monotonic() - start < 1.0, "the key still worked after a second"
        time.sleep(0.05)
    return answer


def stored_rows() -> str:
    with connection.cursor() as cursor:
        dump = []
        for model in studio_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            dump.append(repr(cursor.fetchall()))
    return "\n".join(dump)


# The keys, who makes each, for which endpoints, and so what each may call; every other endpoint (another
# team's included) answers 404 exactly as a missing one does.
KEYS = {
    "animals": ("owner", "animals", []),
    "greeter and animals": ("owner", "greeter", ["animals"]),
    "contracts, another team's": ("outsider", "contracts", []),
}
SLUGS = ("animals", "greeter", "contracts", "no-such-endpoint")


def ask(live, key: str, slug: str, surface: str) -> httpx.Response:
    if surface == "chat":
        body = {"model": slug, "max_tokens": 2, "messages": [{"role": "user", "content": "it barks"}]}
        return live.post("/v1/chat/completions", body, key)
    return live.post(f"/api/v1/endpoints/{slug}/predict", {"input": "it barks", "max_tokens": 2}, key)


@pytest.mark.django_db(transaction=True)
def test_a_key_calls_only_its_endpoints_until_revoked_or_expired_and_its_secret_is_never_kept(
    live, api, owner, outsider, logged
):
    from serving.models import ApiKey, RequestLog

    people = {"owner": owner, "outsider": outsider}
    made = {
        name: make_key(api, people[who], slug, also_endpoints=also)
        for name, (who, slug, also) in KEYS.items()
    }
    expiring_id, expiring = make_key(api, owner, "animals", expires_at=timezone.now() + timedelta(days=1))
    answers, wrong = [], []
    for name, (_, secret) in made.items():
        may = {KEYS[name][1], *KEYS[name][2]}
        listed = httpx.get(f"{live.url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
        answers.append(listed)
        if sorted(model["id"] for model in listed.json()["data"]) != sorted(may):
            wrong.append(f"the {name} key lists {listed.json()['data']}")
        for slug in SLUGS:
            for surface in ("chat", "predict"):
                answer = ask(live, secret, slug, surface)
                answers.append(answer)
                error = answer.json().get("error", {})
                expected = (200, None) if slug in may else (404, "model_not_found")
                if (answer.status_code, error.get("code")) != expected:
                    wrong.append(
                        f"the {name} key, {surface} {slug}: {answer.status_code} {error}, not {expected}"
                    )
    assert not wrong, "\n".join(wrong)
    for path in ("/healthz", "/readyz", "/openapi.json"):  # answered without a key: no endpoint named
        keyless = httpx.get(f"{live.url}{path}")
        assert keyless.status_code == 200 and not any(slug in keyless.text for slug in SLUGS[:3]), (
            keyless.text
        )

    animals_id, animals = made["animals"]
    api.force_authenticate(user=owner)
    assert api.post(f"/api/v1/api-keys/{animals_id}/revoke/").status_code == 200
    revoked = refused_within_a_second(live, animals, "animals")
    ApiKey.objects.filter(pk=expiring_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = refused_within_a_second(live, expiring, "animals")
    answers += [revoked, expired]

    for refused in (revoked, expired):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_api_key"
    assert ask(live, made["greeter and animals"][1], "animals", "chat").status_code == 200  # the others work

    assert live.inference.logs.flush(), "the request log did not drain"
    assert RequestLog.objects.filter(status_code=200).count() >= 8
    secrets = {name: secret for name, (_, secret) in made.items()} | {"expiring": expiring}
    rows = stored_rows()
    leaks = [
        f"the {name} key in the logs: {text[:300]}"
        for name, key in secrets.items()
        for text in logged
        if key in text
    ]
    leaks += [f"the {name} key in a stored row" for name, key in secrets.items() if key in rows]
    leaks += [
        f"the {name} key in a response: {dict(answer.headers)}"
        for name, key in secrets.items()
        for answer in answers
        if key in answer.text or key in str(answer.headers)
    ]
    assert not leaks, "\n".join(leaks)
    for answer in answers:
        assert "server" not in answer.headers and "x-powered-by" not in answer.headers, dict(answer.headers)


class DatabaseDown(MemoryControl):
    """The control plane while its database refuses connections (the driver's message names internals)."""

    def authenticate(self, secret: str):
        from django.db import OperationalError

        raise OperationalError(
            'connection to server at "10.0.4.7", port 5432 failed: FATAL: role "studio_rw"'
        )


def test_a_failing_database_answers_a_plain_error_without_its_internals(tiny_base, logged):
    from serving.engine.embedded import EmbeddedEngine
    from serving.inference.app import build_app
    from serving.inference.config import InferenceConfig

    key = "slm_a-key-while-the-database-is-down"
    config = InferenceConfig(state_poll_seconds=0.1)
    with LiveServer(
        build_app(EmbeddedEngine(limits=config.limits, device="cpu"), DatabaseDown(tiny_base), config)
    ) as live:
        answer = ask(live, key, "animals", "chat")

    assert answer.status_code == 500
    assert answer.json()["error"] == {
        "message": "The inference server failed; it has been logged.",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
        "details": {},
    }
    assert "server" not in answer.headers and "x-powered-by" not in answer.headers
    assert any("10.0.4.7" in text for text in logged), "the failure was not logged for the operators"
    assert not [text for text in logged if key in text], "the key was logged"
