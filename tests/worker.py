"""A real Celery worker process, consuming the test broker and the test database (not eager mode)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    config = connection.settings_dict
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{config['NAME']}"
    user, host, port = config["USER"], config["HOST"] or "127.0.0.1", config["PORT"] or 5432
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{config['NAME']}"


class WorkerProcess:
    def __init__(self, queues: str, log_path: Path):
        self.queues = queues
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, extra_env: dict | None = None) -> WorkerProcess:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "studio.settings.test",
            "DATABASE_URL": _database_url(),
            "STUDIO_DATA_DIR": str(settings.DATA_DIR),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "studio",
                "worker",
                "-Q",
                self.queues,
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{self.queues}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self, sig: int = 9) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")


ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def other_backends(where: str = "TRUE") -> list[int]:
    """Server processes of the test database's other connections (the workers', serve's, threads')."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees one snapshot otherwise
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            f"AND pid <> pg_backend_pid() AND {where}"
        )
        return [pid for (pid,) in cursor.fetchall()]


def terminate_backends(pids: list[int], *, wait_seconds: float = 0) -> list[bool]:
    """Which of `pids` were terminated; with `wait_seconds`, each only once its server process ended."""
    terminated = []
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s, %s)", [pid, round(wait_seconds * 1000)])
            terminated.append(cursor.fetchone()[0])
    return terminated


@contextlib.contextmanager
def own_connection_dropped_before(matches):
    """Terminate this thread's database connection just before its first statement for which
    `matches(sql, params)` holds (from another connection, waiting until its server process ended).
    Yields the list that then holds the dropped connection's server process id."""
    dropped: list[int] = []

    def drop_first_match(execute, sql, params, many, context):
        if not dropped and matches(sql, params):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                dropped.append(cursor.fetchone()[0])
            terminated: list[bool] = []

            def terminate() -> None:
                try:
                    terminated.extend(terminate_backends(dropped, wait_seconds=5))
                finally:
                    connection.close()

            killer = threading.Thread(target=terminate)
            killer.start()
            killer.join()
            assert terminated == [True], "the connection was not dropped"
        return execute(sql, params, many, context)

    with connection.execute_wrapper(drop_first_match):
        yield dropped


def drop_idle_connections_until(predicate, *, timeout: float, message: str):
    """Until `predicate()` answers, drop every idle connection of the other processes every 0.1 s: each
    statement a worker runs outside a transaction may then meet a lost connection (one inside a
    transaction is never idle). Returns the predicate's answer and how many connections were dropped."""
    dropped, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result, dropped
        backends = other_backends("state = 'idle'")
        terminate_backends(backends)
        dropped += len(backends)
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")


def _purge_broker() -> None:
    from studio.celery import app

    with app.connection_for_write() as conn:
        for queue in ("default", "training", "evaluation"):
            with contextlib.suppress(Exception):  # a queue never declared has nothing to purge
                conn.default_channel.queue_purge(queue)


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """Start a worker on every queue for this test; it sees the committed test data."""
    _purge_broker()
    worker = WorkerProcess("default,training,evaluation", tmp_path / "worker.log").start()
    yield worker
    worker.stop()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """A factory for tests that start, kill and restart workers themselves."""
    _purge_broker()
    started: list[WorkerProcess] = []

    def start(queues: str = "default,training,evaluation", **env) -> WorkerProcess:
        worker = WorkerProcess(queues, tmp_path / f"worker-{len(started)}.log").start(env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
