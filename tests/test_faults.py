"""Faults, caused for real on this machine: what the user sees, that no job is left stuck, that no partial
rows or files stay behind, and that the studio recovers without anyone repairing it by hand.

Covered here:
- the data dir's stores made read-only (chmod) under an upload: in the request, and under a large upload's
  check (the worker's service called in this process, as tests/test_dataset_imports.py does);
- Redis restarted (a private, non-persistent one) while a training job and a dataset import wait in its
  queues, and a job created while it is down: the requests answer, the lost messages are sent again by
  the workers' reaper pass (`studio.leases.leases_redispatch`), and a new worker finishes all of them;
- the serving process (`manage.py serve`) stopped and started again on its port while clients keep
  calling it: each call is answered right, refused (503 with Retry-After) or not connected, never
  wrong, and every call made once the new process is ready is answered;
- PostgreSQL connections dropped (`pg_terminate_backend`) in the middle of a request of the web process,
  under the serving process's load, and under a worker's training job. These run in the PostgreSQL CI
  only (`DATABASE_URL=postgres…`): SQLite has no server connection to drop, so on SQLite they are not
  collected at all (not skipped).

Covered elsewhere (not repeated here):
- a training worker SIGKILLed mid-job: `tests/test_training.py::
  test_a_killed_worker_is_replaced_and_the_job_resumes_from_its_checkpoint` (resumed from its checkpoint
  by a new worker) and `::test_past_the_attempt_cap_a_lost_job_fails_with_the_reason`;
- a dataset import's worker SIGKILLed mid-check: `tests/test_dataset_imports.py::
  test_an_import_whose_worker_is_killed_is_requeued_and_finished_by_another`;
- an evaluation run whose worker was lost (its lease, the reaper): `evaluation/tests/test_runs_lifecycle.py`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from httpx2 import Client, TransportError

from audit.models import AuditEvent
from projects.models import Dataset, DatasetImport, DatasetVersion
from projects.services import imports
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes
from serving.tests.conftest import ANIMALS, tiny_base, versions  # noqa: F401 - fixtures of `published`
from serving.tests.test_serve_process import ServeProcess, published  # noqa: F401
from studio.db import on_a_live_connection
from tests.test_training import FAST_WORKER, create_job
from tests.worker import (
    ON_POSTGRESQL,
    drop_idle_connections_until,
    other_backends,
    own_connection_dropped_before,
    terminate_backends,
    wait_until,
)
from training.choices import JobStatus
from training.models import ModelVersion, TrainingJob
from training.services import model_version_register
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.worker


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, version=1, data_classes=["internal"])
    return project


@pytest.fixture
def tiny_base_model(db, request):
    """The serving tests' tiny random Llama (`tiny_base`) as a base model of the catalog."""
    return BaseModelFactory(source=str(request.getfixturevalue("tiny_base")))


def upload(api, project, content: bytes, filename="data.jsonl"):
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return api.post("/api/v1/datasets/", {"project": project.pk, "file": file}, format="multipart")


def files_in(folder) -> set[Path]:
    """Every file under `folder`, hidden temporary ones included."""
    folder = Path(folder)
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


def stored_files() -> set[Path]:
    """Every file of the dataset and upload stores, hidden temporary ones included."""
    return files_in(settings.DATASETS_DIR) | files_in(settings.UPLOADS_DIR)


# --- the data dir made read-only ------------------------------------------------------------------

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


@contextlib.contextmanager
def _as_a_service_account():
    """Root ignores file modes: for root, drop the capabilities that override them from this thread's
    effective set (Linux capabilities are per thread, the permitted set keeps them for the restore), so a
    chmod binds the studio's code as it binds the unprivileged account it runs as in production."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    assert libc.capget(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    saved = data[0].effective
    data[0].effective &= ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH) | (1 << _CAP_FOWNER))
    assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())


@contextlib.contextmanager
def read_only(*folders):
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder).chmod(0o555)
    try:
        with _as_a_service_account():
            yield
    finally:
        for folder in folders:
            Path(folder).chmod(0o755)


@pytest.mark.django_db
def test_a_read_only_data_dir_refuses_an_upload_clearly_and_keeps_nothing(api, project, settings):
    before = stored_files()
    content = jsonl_bytes(classification_rows(12))
    api.as_user(project.owner)
    with read_only(settings.DATASETS_DIR):
        refused = upload(api, project, content)
    assert refused.status_code == 503, refused.content
    error = refused.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "nothing was stored" in error["message"].lower()
    assert refused["Retry-After"]
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert stored_files() == before

    # the folder writable again: the same upload goes through, nothing to clean up first
    stored = upload(api, project, content)
    assert stored.status_code == 201, stored.content
    assert DatasetVersion.objects.get().row_count == 36


@pytest.mark.django_db
def test_a_large_upload_whose_store_turns_read_only_before_its_check_fails_clearly_and_keeps_nothing(
    api, project, settings
):
    settings.STUDIO_UPLOAD_INLINE_BYTES = 1024  # the file goes through an import, checked by a worker
    before = stored_files()
    api.as_user(project.owner)
    with read_only(settings.UPLOADS_DIR):  # where the request stores the file for its worker
        refused = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_unavailable"
    assert DatasetImport.objects.count() == 0 and stored_files() == before

    accepted = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert accepted.status_code == 202, accepted.content
    url = accepted.json()["url"]
    staged = DatasetImport.objects.get().staged_path
    assert staged.exists()
    with read_only(settings.DATASETS_DIR):  # the disk went read-only between the upload and its check
        assert imports.dataset_import_run(import_id=accepted.json()["id"], worker="w1") is None
    failed = api.get(url).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "storage_unavailable"
    assert "nothing was stored" in failed["error"]["message"].lower()
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert stored_files() == before and not staged.exists()

    again = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert imports.dataset_import_run(import_id=again.json()["id"], worker="w1").row_count == 60


# --- Redis restarted while jobs wait in its queues --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, without persistence: a restart loses every queued message."""

    def __init__(self, folder: Path):
        self.port, self.folder, self.process = _free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.call("PING") == "PONG", timeout=10, message="the private redis")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def call(self, *command: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *command], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()


@pytest.fixture
def private_redis(tmp_path, settings, monkeypatch):
    """The studio's broker, for this test's process and the workers it starts, is a private Redis."""
    from studio.celery import app

    redis = PrivateRedis(tmp_path)
    redis.start()
    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options")}
    settings.CELERY_BROKER_URL = redis.url  # what `start_worker` hands its workers
    monkeypatch.setenv("CELERY_BROKER_URL", redis.url)  # Celery's configuration reads it first
    app.conf.update(broker_url=redis.url, broker_transport_options={"visibility_timeout": 3600})
    app._pool, app.amqp._producer_pool = None, None  # connections to the old broker go with them
    assert app.connection_for_write().as_uri().endswith(f"127.0.0.1:{redis.port}/0")
    yield redis
    monkeypatch.undo()
    app.conf.update(saved)
    app._pool, app.amqp._producer_pool = None, None
    redis.stop()


def test_jobs_queued_in_a_redis_that_restarts_are_sent_again_and_finished(
    private_redis, start_worker, api, project, tiny_base_model, settings
):
    version_id = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(12))).json()[
        "id"
    ]
    dataset_version = DatasetVersion.objects.get(pk=version_id)
    settings.STUDIO_UPLOAD_INLINE_BYTES = 1024  # the next file goes through an import checked by a worker
    quick = {"max_steps": 4, "eval_interval_steps": 4, "checkpoint_interval_steps": 4}

    queued_job = create_job(api, project, dataset_version, tiny_base_model, **quick)
    queued_import = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert (queued_job.status_code, queued_import.status_code) == (201, 202)
    assert private_redis.call("LLEN", "training") == private_redis.call("LLEN", "default") == "1"

    private_redis.stop()  # restarted without persistence: both messages are gone
    started = time.monotonic()
    while_down = create_job(api, project, dataset_version, tiny_base_model, **quick)
    answered_in = time.monotonic() - started
    private_redis.start()
    assert while_down.status_code == 201, while_down.content
    assert while_down.json()["status"] == "queued" and answered_in < 10
    assert private_redis.call("LLEN", "training") == private_redis.call("LLEN", "default") == "0"

    start_worker("default,training", STUDIO_REDISPATCH_SECONDS="1", **FAST_WORKER)
    job_ids = [queued_job.json()["id"], while_down.json()["id"]]
    import_url = queued_import.json()["url"]

    def all_settled():
        jobs = list(TrainingJob.objects.filter(pk__in=job_ids))
        imported = api.get(import_url).json()
        return all(job.is_terminal for job in jobs) and imported["status"] in ("succeeded", "failed")

    wait_until(all_settled, timeout=120, interval=0.2, message="the jobs and the import to settle")
    for job in TrainingJob.objects.filter(pk__in=job_ids):
        assert job.status == JobStatus.SUCCEEDED, (job.failure_reason, job.failure_traceback)
        assert job.attempt == 1 and ModelVersion.objects.filter(training_job=job).count() == 1
    imported = api.get(import_url).json()
    assert imported["status"] == "succeeded" and imported["attempt"] == 1, imported["error"]
    assert DatasetVersion.objects.filter(pk=imported["dataset_version"], row_count=60).exists()


# --- the serving process restarted under load ------------------------------------------------------


class Callers:
    """Clients calling the classifier endpoint without pause, each with its own text; every outcome
    is kept as (started, text, status or "not connected", body, Retry-After)."""

    TEXTS = ("it barks", "it purrs", "it sings at dawn")

    def __init__(self, url: str, secret: str):
        self.url, self.headers = (
            f"{url}/api/v1/endpoints/animals/predict",
            {"Authorization": f"Bearer {secret}"},
        )
        self.outcomes: list[tuple] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call, args=(text,)) for text in self.TEXTS]

    def _call(self, text: str) -> None:
        with Client(timeout=30) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = http.post(self.url, json={"input": text}, headers=self.headers)
                except TransportError:
                    self.outcomes.append((started, text, "not connected", None, None))
                    time.sleep(0.1)
                    continue
                retry_after = response.headers.get("Retry-After")
                self.outcomes.append((started, text, response.status_code, response.json(), retry_after))
                # a steady load that leaves the two cores to the processes under test; a 503's
                # Retry-After honoured as a well-behaved client does, within reason for a test
                time.sleep(min(float(retry_after), 0.5) if retry_after else 0.05)

    def answered_since(self, moment: float) -> int:
        return sum(1 for started, _, status, *_ in self.outcomes if started >= moment and status == 200)

    def __enter__(self) -> Callers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.fixture
def endpoints(transactional_db, request):
    """`published` of the serving process tests: the tiny `animals` classifier and `greeter`, and a key
    whose rate limit the callers below cannot reach (a 429 is not what these tests are about)."""
    from serving.models import MAX_RATE_LIMIT_PER_MINUTE, ApiKey

    world = request.getfixturevalue("published")
    ApiKey.objects.filter(pk=world["key"].pk).update(rate_limit_per_minute=MAX_RATE_LIMIT_PER_MINUTE)
    return world


def test_the_serving_process_restarted_under_load_refuses_or_answers_right_never_wrong(endpoints, tmp_path):
    port = _free_port()
    first = ServeProcess(tmp_path / "serve-1.log", port=port)
    second = None
    try:
        with Callers(first.url, endpoints["secret"]) as callers:
            wait_until(lambda: callers.answered_since(0) >= 5, timeout=30, message="answers under load")
            first.process.send_signal(signal.SIGTERM)  # a deploy or a crash-restart by the supervisor
            assert first.process.wait(timeout=60) in (0, -signal.SIGTERM)
            stopped_at = time.monotonic()
            second = ServeProcess(tmp_path / "serve-2.log", port=port, wait_ready=False)
            wait_until(second.ready, timeout=120, message="the new process to be ready")
            ready_at = time.monotonic()
            wait_until(lambda: callers.answered_since(ready_at) >= 5, timeout=30, message="answers again")
    finally:
        first.stop()
        if second is not None:
            second.stop()

    outcomes = callers.outcomes
    statuses = {status for _, _, status, *_ in outcomes}
    assert statuses <= {200, 503, "not connected"}, statuses
    assert any(status != 200 for started, _, status, *_ in outcomes if started >= stopped_at)
    for _, _, _, body, retry_after in (o for o in outcomes if o[2] == 503):
        assert body["error"]["code"] and body["error"]["message"] and int(retry_after) > 0
    labels: dict[str, set] = {}
    for _, text, _, body, _ in (o for o in outcomes if o[2] == 200):
        assert body["label"] in ANIMALS and body["model_version"] == 1
        labels.setdefault(text, set()).add(body["label"])
    assert all(len(seen) == 1 for seen in labels.values()), labels  # the same answer before and after
    after_ready = [status for started, _, status, *_ in outcomes if started >= ready_at]
    assert after_ready and set(after_ready) == {200}


# --- PostgreSQL connections dropped (PostgreSQL only) ------------------------------------------------


class InThread(threading.Thread):
    """A request made from its own thread, so on its own database connection."""

    def __init__(self, call):
        super().__init__()
        self.call, self.response = call, None

    def run(self) -> None:
        try:
            self.response = self.call()
        finally:
            connection.close()


if ON_POSTGRESQL:

    def test_a_connection_dropped_in_the_middle_of_an_upload_is_a_503_that_stores_nothing(
        transactional_db, api, project
    ):
        api.as_user(project.owner)
        first = upload(api, project, jsonl_bytes(classification_rows(12))).json()
        before = stored_files()

        def new_version():
            file = SimpleUploadedFile("v2.jsonl", jsonl_bytes(classification_rows(14)))
            return api.post(
                "/api/v1/datasets/", {"dataset": first["dataset"], "file": file}, format="multipart"
            )

        with transaction.atomic():  # hold the dataset's row lock, which the upload takes for its number
            Dataset.objects.select_for_update().get(pk=first["dataset"])
            request = InThread(new_version)
            request.start()
            waiting = wait_until(
                lambda: other_backends("wait_event_type = 'Lock'"), timeout=30, message="the upload to wait"
            )
            terminate_backends(waiting)  # its connection dropped while it is inside its transaction
            request.join(timeout=30)
        dropped = request.response
        assert dropped.status_code == 503, dropped.content
        assert dropped.json()["error"]["code"] == "database_unavailable" and dropped["Retry-After"]
        assert DatasetVersion.objects.count() == 1 and stored_files() == before

        retried = InThread(new_version)
        retried.start()
        retried.join(timeout=30)
        assert retried.response.status_code == 201, retried.response.content
        assert retried.response.json()["number"] == 2

    def test_the_serving_process_outlives_its_database_connections_dropped_under_load(endpoints, tmp_path):
        from serving.models import RequestLog

        serve = ServeProcess(tmp_path / "serve.log")
        try:
            with Callers(serve.url, endpoints["secret"]) as callers:
                wait_until(lambda: callers.answered_since(0) >= 6, timeout=30, message="answers under load")
                dropped = 0
                for _ in range(5):  # its poller, key checks and log writer each lose theirs, repeatedly
                    backends = other_backends()
                    terminate_backends(backends)
                    dropped += len(backends)
                    time.sleep(0.3)
                after = time.monotonic()
                wait_until(lambda: callers.answered_since(after) >= 6, timeout=30, message="answers after")
            answered = sum(1 for outcome in callers.outcomes if outcome[2] == 200)
            logged = wait_until(
                lambda: (lambda n: n >= answered and n)(RequestLog.objects.filter(status_code=200).count()),
                timeout=15,
                message=f"a request log row for each of the {answered} answers",
            )
        finally:
            serve.stop()
        assert dropped >= 5
        statuses = {status for _, _, status, *_ in callers.outcomes}
        assert statuses <= {200, 503}, statuses
        for _, _, _, body, _ in (o for o in callers.outcomes if o[2] == 200):
            assert body["label"] in ANIMALS
        assert logged == answered

    def test_a_training_job_outlives_its_workers_database_connections_dropped(
        start_worker, api, project, tiny_base_model
    ):
        version_id = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(12))).json()[
            "id"
        ]
        start_worker("default,training", **FAST_WORKER)
        job_id = create_job(
            api,
            project,
            DatasetVersion.objects.get(pk=version_id),
            tiny_base_model,
            max_steps=60,
            checkpoint_interval_steps=20,
        ).json()["id"]
        wait_until(
            lambda: TrainingJob.objects.get(pk=job_id).step > 0, timeout=120, message="the job to step"
        )
        # Its job thread, heartbeat and reaper lose their connections from the first step to the end: steps,
        # closing assessment and registration alike (a statement inside a transaction: the next test).
        job, dropped = drop_idle_connections_until(
            lambda: (lambda j: j.is_terminal and j)(TrainingJob.objects.get(pk=job_id)),
            timeout=120,
            message="the job to end",
        )
        assert dropped >= 1
        assert job.status == JobStatus.SUCCEEDED, (job.failure_reason, job.failure_traceback)
        assert job.attempt == 1 and job.step == 60
        assert ModelVersion.objects.filter(training_job=job).count() == 1

    def test_a_version_whose_connection_drops_before_its_constraint_check_is_registered_once(
        transactional_db, project, owner, caplog
    ):
        """A connection lost before a constraint check surfaces as that check failing (Django logs the
        database error and reports the constraint violated, here "a project has exactly one production
        version"): the registration is still made once, on a new connection, not refused for a false
        reason, and nothing of the lost try remains."""
        base_model = BaseModelFactory()

        def before_the_production_check(sql, params):
            return bool(params) and "production" in params

        with (
            own_connection_dropped_before(before_the_production_check) as dropped,
            caplog.at_level("WARNING"),
        ):
            version = on_a_live_connection(
                lambda: model_version_register(project=project, user=owner, base_model=base_model)
            )
        assert dropped and "The database connection was lost; trying again" in caplog.text
        assert list(ModelVersion.objects.filter(project=project)) == [version]
        assert version.number == 1
        assert AuditEvent.objects.filter(action="model_version.register").count() == 1
