"""The Celery round trip through a real broker and a real worker process (never eager mode)."""

import os

import pytest

from studio.celery import app
from studio.tasks import worker_ping

pytestmark = pytest.mark.worker


def test_configuration_is_not_eager_and_is_json_only():
    assert app.conf.task_always_eager is False
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert {q.name for q in app.conf.task_queues} == {"default", "training", "evaluation"}


def test_task_runs_in_a_separate_worker_process_on_each_queue(celery_worker_process):
    for queue in ("default", "training", "evaluation"):
        result = worker_ping.apply_async(queue=queue).get(timeout=60)
        assert result["pid"] != os.getpid()
        assert result["pid"] == celery_worker_process.pid


def test_only_tasks_that_run_models_claim_a_share_of_the_hosts_cores(settings, tmp_path):
    from studio.celery import _claim_cores, _release_cores

    settings.STUDIO_ML_CORES_DIR = tmp_path / "cores"

    class Task:
        def __init__(self, name):
            self.name = name

    _claim_cores(task_id="a", task=Task("evaluation.tasks.evaluation_run_execute"))
    _claim_cores(task_id="b", task=Task("studio.tasks.worker_ping"))
    assert [path.name.split("-")[1] for path in (tmp_path / "cores").glob("*.claim")] == ["evaluation"]
    _release_cores(task_id="b")
    _release_cores(task_id="a")
    assert not list((tmp_path / "cores").glob("*.claim"))
