"""``manage.py serve`` as its own process on the test database: the control plane's keys, endpoints and
request log for real, the official ``openai`` client, escalation into the review queue, revocation, a
promotion seen within seconds, and a graceful shutdown that finishes the stream in flight."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from django.conf import settings

from serving.tests.conftest import ANIMALS
from tests.worker import ROOT, _database_url, wait_until


class ServeProcess:
    def __init__(self, log_path: Path, *, port: int = 0, wait_ready: bool = True):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "studio.settings.test",
            "DATABASE_URL": _database_url(),
            "STUDIO_DATA_DIR": str(settings.DATA_DIR),
            "STUDIO_MODEL_CACHE": str(settings.MODEL_CACHE_DIR),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "serve",
                "--port",
                str(port),
                "--poll-seconds",
                "0.2",
                "--log-level",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        line = self.process.stdout.readline()
        assert line, f"serve did not start:\n{self.log()}"
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}"
        if wait_ready:
            wait_until(self.ready, timeout=120, message=f"serve to be ready:\n{self.log()}")

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


@pytest.fixture
def published(transactional_db, owner, team, versions, tiny_base):
    """Two endpoints of the team on the tiny model: ``animals`` (classification) and ``greeter``."""
    from projects.tests.factories import ProjectFactory
    from serving.services import api_key_create, endpoint_publish
    from training.choices import Stage
    from training.models import BaseModel, ModelVersion

    base = BaseModel.objects.create(
        key="tiny-serve", name="Tiny random Llama", source_type="local_folder", source=str(tiny_base)
    )

    def production(project, folder: Path, number: int, stage=Stage.PRODUCTION) -> ModelVersion:
        storage = f"serve-test-{project.slug}-{number}"
        shutil.copytree(folder, settings.ARTIFACTS_DIR / "models" / storage, dirs_exist_ok=True)
        config = json.loads((folder / "training_config.json").read_text())
        return ModelVersion.objects.create(
            project=project,
            number=number,
            base_model=base,
            storage_name=storage,
            training_config=config,
            stage=stage,
            created_by=owner,
        )

    animals = ProjectFactory(team=team, slug="animals", task_type="classification")
    greeter = ProjectFactory(team=team, slug="greeter", task_type="generation")
    versions_by_slug = {
        "animals": production(animals, versions["animals"], 1),
        "greeter": production(greeter, versions["greeter"], 1),
        "greeter-next": production(greeter, versions["echo"], 2, stage=Stage.STAGING),
    }
    endpoints = {
        "animals": endpoint_publish(project=animals, user=owner, slug="animals", routing_threshold=None),
        "greeter": endpoint_publish(project=greeter, user=owner, slug="greeter", routing_threshold=None),
    }
    key, secret = api_key_create(user=owner, team=team, name="helpdesk", endpoints=list(endpoints.values()))
    return {"endpoints": endpoints, "versions": versions_by_slug, "key": key, "secret": secret}


@pytest.fixture
def serve(published, tmp_path):
    process = ServeProcess(tmp_path / "serve.log")
    yield process
    process.stop()


def test_the_openai_client_against_manage_py_serve_with_the_databases_keys_logs_and_reviews(
    serve, published, owner
):
    from serving.models import RequestLog, ReviewItem
    from serving.services import api_key_revoke, endpoint_update

    api = openai.OpenAI(base_url=f"{serve.url}/v1", api_key=published["secret"], max_retries=0)

    label = api.chat.completions.create(model="animals", messages=[{"role": "user", "content": "it barks"}])
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in api.chat.completions.create(
            model="greeter", messages=[{"role": "user", "content": "hi"}], max_tokens=6, stream=True
        )
        if chunk.choices
    )
    listed = sorted(model.id for model in api.models.list())

    assert label.choices[0].message.content in ANIMALS and streamed
    assert listed == ["animals", "greeter"]
    wait_until(lambda: RequestLog.objects.filter(status_code=200).count() == 2, timeout=10, message="logs")
    published["key"].refresh_from_db()
    assert published["key"].request_count == 2

    # an answer under the threshold: escalated, and a review item for it
    endpoint_update(endpoint=published["endpoints"]["animals"], user=owner, routing_threshold=1.0)
    predict = f"{serve.url}/api/v1/endpoints/animals/predict"
    headers = {"Authorization": f"Bearer {published['secret']}"}
    wait_until(
        lambda: (
            httpx.post(predict, json={"input": "it purrs"}, headers=headers).json()["route"] == "escalate"
        ),
        timeout=10,
        message="the new threshold",
    )
    item = wait_until(
        lambda: ReviewItem.objects.select_related("request_log").first(), timeout=10, message="a review item"
    )
    assert item.status == "pending" and item.endpoint == published["endpoints"]["animals"]
    assert item.request_log.route == "escalate" and item.request_log.input_text == "it purrs"
    assert item.request_log.output_text in ANIMALS

    api_key_revoke(key=published["key"], user=owner)
    revoked_at = time.monotonic()
    with pytest.raises(openai.AuthenticationError):
        while time.monotonic() - revoked_at < 1.0:
            api.chat.completions.create(model="animals", messages=[{"role": "user", "content": "it barks"}])
    assert time.monotonic() - revoked_at < 1.0, "the revoked key still worked after a second"


def test_a_promotion_is_served_within_seconds_and_shutdown_finishes_the_stream(serve, published):
    from training.choices import Stage

    predict = f"{serve.url}/api/v1/endpoints/greeter/predict"
    headers = {"Authorization": f"Bearer {published['secret']}"}
    before = httpx.post(predict, json={"input": "hi", "max_tokens": 2}, headers=headers).json()
    old, new = published["versions"]["greeter"], published["versions"]["greeter-next"]
    old.stage, new.stage = Stage.RETIRED, Stage.PRODUCTION
    old.save(update_fields=["stage"])
    new.save(update_fields=["stage"])  # what governance's promotion does, in effect
    promoted_at = time.monotonic()
    wait_until(
        lambda: (
            httpx.post(predict, json={"input": "hi", "max_tokens": 2}, headers=headers).json()[
                "model_version"
            ]
            == 2
        ),
        timeout=30,
        interval=0.05,
        message="the promoted version",
    )
    switch_seconds = time.monotonic() - promoted_at

    body = {
        "model": "greeter",
        "stream": True,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx.stream(
        "POST", f"{serve.url}/v1/chat/completions", json=body, headers=headers, timeout=60
    ) as stream:
        lines = stream.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        serve.process.send_signal(signal.SIGTERM)  # while the answer is being streamed
        rest = [line for line in lines if line.startswith("data:")]

    assert before["model_version"] == 1
    assert switch_seconds < 5  # the poller reads every 0.2 s here; loading the new adapter takes the rest
    assert json.loads(first[5:])["choices"][0]["delta"]["role"] == "assistant"
    assert rest[-1] == "data: [DONE]" and '"finish_reason":"' in rest[-2]
    # uvicorn re-raises the signal once it has drained, so the process ends "terminated", after its log line
    assert serve.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "inference process stopped: engine drained" in serve.log()
