"""“Try it” on a model page: one input answered by a worker, polled by the page, stored nowhere.

The task's answer travels through Celery's result backend and is forgotten once read; the browser
session remembers which answers its person asked for, so nobody else can read them."""

from __future__ import annotations

from studio.celery import app as celery_app
from studio.errors import InvalidInput, NotFound
from training.models import ModelVersion

MAX_INPUT_CHARS = 4000
_SESSION_KEY = "studio_try_tasks"
_KEPT = 20


def try_start(*, request, version: ModelVersion, text: str) -> str:
    """Queue the answer to `text` and return the id to poll it by."""
    from training.tasks import model_version_try

    text = (text or "").strip()
    if not text:
        raise InvalidInput("Type an input first.", details={"input": ["Type an input first."]})
    if len(text) > MAX_INPUT_CHARS or "\x00" in text:
        message = f"An input is at most {MAX_INPUT_CHARS} characters of text."
        raise InvalidInput(message, details={"input": [message]})
    task_id = model_version_try.delay(version.pk, text).id
    tasks = request.session.get(_SESSION_KEY, {})
    tasks[task_id] = version.pk
    request.session[_SESSION_KEY] = dict(list(tasks.items())[-_KEPT:])
    return task_id


def try_poll(*, request, version: ModelVersion, task_id: str) -> dict:
    """{"status": "pending" | "done" | "failed", "output", "confidence"}; 404 for another's task."""
    tasks = request.session.get(_SESSION_KEY, {})
    if tasks.get(task_id) != version.pk:
        raise NotFound("No such answer.")
    result = celery_app.AsyncResult(task_id)  # the studio's app and backend, whatever app is current
    if not result.ready():
        return {"status": "pending"}
    tasks.pop(task_id, None)
    request.session[_SESSION_KEY] = tasks
    try:
        if result.successful():
            return {"status": "done", **result.result}
        return {"status": "failed", "message": "The worker could not answer; try again in a moment."}
    finally:
        result.forget()
