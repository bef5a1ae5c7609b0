"""The live job page in Chromium: while a worker (played here by the test, writing to the shared database)
advances the job, the progress bar, numbers, curves, events and status change without a reload."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes
from training.choices import EventLevel, JobStatus
from training.engine.config import PRESETS, resolve_preset
from training.models import ModelVersion, TrainingJob, TrainingJobEvent, TrainingMetricPoint
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests"  # the factories' password
POLL_TIMEOUT_MS = 10_000  # the page polls every 2 s


@pytest.fixture
def running_job(team, owner):
    import io

    from projects import services as project_services

    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    version = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(12))),
        filename="intents.jsonl",
        name="Intents",
    )
    job = TrainingJob.objects.create(
        project=project,
        dataset_version=version,
        charter=project.charters.first(),
        base_model=BaseModelFactory(),
        created_by=owner,
        preset="quick",
        hyperparameters=resolve_preset("quick", n_train_examples=30, device_type="cpu").model_dump(
            mode="json"
        ),
        status=JobStatus.RUNNING,
        step=10,
        total_steps=100,
        epoch=0.2,
        train_loss=2.1,
        tokens_per_second=500,
        eta_seconds=900,
        attempt=1,
        lease_owner="worker-1",
        started_at=timezone.now(),
    )
    TrainingMetricPoint.objects.create(job=job, step=10, train_loss=2.1)
    TrainingJobEvent.objects.create(job=job, level=EventLevel.INFO, message="Attempt 1 of 3 started")
    return job


def open_job_page(page, live_server, login, job):
    login(page, live_server, job.created_by.username, PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    expect(page.locator('[data-live="status"] .badge')).to_have_attribute("data-status", "running")
    page.wait_for_function("() => { const c = document.getElementById('loss-chart'); return c && c.data; }")
    # A reload would lose this marker.
    page.evaluate("window.__sameDocument = true")


def curve_lengths(page) -> list[int]:
    return page.evaluate("() => document.getElementById('loss-chart').data.map((trace) => trace.x.length)")


def test_progress_curves_events_and_status_update_without_a_reload(
    page, live_server, login, running_job, js_errors
):
    job = running_job
    open_job_page(page, live_server, login, job)
    progress = page.locator('[data-live="progress"]')
    expect(progress).to_have_attribute("aria-valuenow", "10")
    assert curve_lengths(page) == [1, 0]

    TrainingJob.objects.filter(pk=job.pk).update(
        step=60, epoch=1.2, train_loss=0.8123, val_loss=0.9, eta_seconds=125, tokens_per_second=912.6
    )
    for step in (20, 30, 40, 50, 60):
        TrainingMetricPoint.objects.create(job=job, step=step, train_loss=2.0 - step / 40)
    TrainingMetricPoint.objects.create(job=job, step=50, val_loss=0.9, metrics={"accuracy": 0.7})
    TrainingJobEvent.objects.create(job=job, level=EventLevel.INFO, message="Step 50: validation loss 0.900")

    expect(progress).to_have_attribute("aria-valuenow", "60", timeout=POLL_TIMEOUT_MS)
    expect(page.locator('[data-live="progress-bar"]')).to_have_text("60%")
    expect(page.locator('[data-live="step"]')).to_have_text("60")
    expect(page.locator('[data-live="eta"]')).to_have_text("2 min 05 s")
    expect(page.locator('[data-live="tokens-per-second"]')).to_have_text("913")
    expect(page.locator('[data-live="val-loss"]')).to_have_text("0.9000")
    page.wait_for_function(
        "() => { const d = document.getElementById('loss-chart').data;"
        " return d[0].x.length === 6 && d[1].x.length === 1; }",
        timeout=POLL_TIMEOUT_MS,
    )
    events = page.locator('[data-live="events"] li')
    expect(events.first).to_contain_text("Step 50: validation loss 0.900", timeout=POLL_TIMEOUT_MS)
    expect(events).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True

    model = ModelVersion.objects.create(
        project=job.project,
        number=1,
        training_job=job,
        base_model=job.base_model,
        dataset_version=job.dataset_version,
        created_by=job.created_by,
    )
    hardware = page.get_by_test_id("job-hardware")
    expect(hardware).to_contain_text("Running on worker worker-1")
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        step=100,
        finished_at=timezone.now(),
        lease_owner="",
        hardware={"device": "cpu", "name": "Test CPU", "threads": 2, "dtype": "fp32"},
    )
    TrainingJobEvent.objects.create(job=job, level=EventLevel.INFO, message="Succeeded: model version v1")

    badge = page.locator('[data-live="status"] .badge')
    expect(badge).to_have_attribute("data-status", "succeeded", timeout=POLL_TIMEOUT_MS)
    expect(badge).to_have_text("Succeeded")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    model_link = page.locator('[data-live="model-link"]')
    expect(model_link).to_be_visible()
    expect(model_link).to_have_attribute("href", f"/models/{model.pk}/")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(events.first).to_contain_text("Succeeded: model version v1")
    expect(hardware).to_contain_text("Test CPU")  # the panel follows the job, no "recorded when…" left
    expect(hardware).not_to_contain_text("Running on worker")
    expect(page.locator('[data-live="events-word"]')).to_have_text("events")
    page.wait_for_function("() => window.StudioJobLive.stopped === true")
    assert page.evaluate("window.__sameDocument") is True
    assert js_errors == []

    model_link.click()
    expect(page.get_by_role("heading", name="Support intents model v1")).to_be_visible()


def test_a_failure_shows_its_reason_and_offers_retry_without_a_reload(
    page, live_server, login, running_job, js_errors
):
    job = running_job
    open_job_page(page, live_server, login, job)
    expect(page.locator('[data-live="failure"]')).to_be_hidden()
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()

    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        failure_reason="The worker ran out of memory.",
        failure_hint="Lower the batch size or the max sequence length.",
        failure_traceback="Traceback (most recent call last):\ntorch.OutOfMemoryError",
    )
    failure = page.locator('[data-live="failure"]')
    expect(failure).to_be_visible(timeout=POLL_TIMEOUT_MS)
    expect(failure).to_contain_text("The worker ran out of memory.")
    expect(failure).to_contain_text("Lower the batch size")
    expect(page.locator('[data-live="failure-traceback"]')).to_be_hidden()  # collapsed until asked for
    page.get_by_text("Traceback (for engineers)").click()
    expect(page.locator('[data-live="failure-traceback"]')).to_contain_text("OutOfMemoryError")
    expect(page.locator('[data-live="status"] .badge')).to_have_attribute("data-status", "failed")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True
    assert js_errors == []

    page.get_by_role("button", name="Retry").click()
    page.get_by_role("dialog").get_by_role("button", name="Retry").click()
    expect(page).not_to_have_url(f"{live_server.url}/jobs/{job.pk}/")
    retry = TrainingJob.objects.get(retry_of=job)
    expect(page).to_have_url(f"{live_server.url}/jobs/{retry.pk}/")
    expect(page.locator('[data-live="status"] .badge')).to_have_attribute("data-status", "queued")


def test_the_new_job_form_shows_what_a_preset_resolves_to_and_names_a_bad_field(
    page, live_server, login, running_job, js_errors
):
    project = running_job.project
    login(page, live_server, running_job.created_by.username, PASSWORD)
    page.goto(f"{live_server.url}/jobs/new/?project={project.pk}")
    resolved = page.get_by_test_id("resolved-settings")
    lora_r = resolved.locator("tr", has_text="LoRA r").first
    expect(lora_r).to_contain_text(str(PRESETS["balanced"]["lora_r"]))  # balanced, preselected

    page.get_by_label("Quick").check()
    expect(lora_r).to_contain_text(str(PRESETS["quick"]["lora_r"]))
    page.get_by_text("Advanced: every hyperparameter").click()
    expect(page.get_by_label("LoRA r")).to_have_attribute("placeholder", str(PRESETS["quick"]["lora_r"]))
    page.get_by_label("Learning rate", exact=True).fill("-1")
    page.get_by_role("button", name="Start training").click()

    field = page.locator(".studio-field.has-error")
    expect(field).to_have_count(1)
    expect(field).to_contain_text("Learning rate")
    expect(field).to_contain_text("greater than 0")
    expect(page.get_by_label("Quick")).to_be_checked()  # the choices survive the round trip
    assert TrainingJob.objects.count() == 1
    assert js_errors == []


def test_cancelling_asks_keep_running_or_cancel_and_the_panels_follow(
    page, live_server, login, running_job, js_errors
):
    job = running_job
    open_job_page(page, live_server, login, job)
    expect(page.locator('[data-live="events-word"]')).to_have_text("event")  # "1 event", not "1 events"
    page.get_by_role("button", name="Cancel").click()
    dialog = page.locator("#studio-confirm")
    expect(dialog.get_by_role("button", name="Keep running")).to_be_visible()
    dialog.get_by_role("button", name="Keep running").click()
    expect(dialog).to_be_hidden()
    job.refresh_from_db()
    assert job.cancel_requested_at is None

    page.get_by_role("button", name="Cancel").click()
    dialog.get_by_role("button", name="Cancel the job").click()
    expect(page.locator('[data-live="cancelling"]')).to_be_visible()
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
    badge = page.locator('[data-live="status"] .badge')
    expect(badge).to_have_attribute("data-status", "cancelled", timeout=POLL_TIMEOUT_MS)
    hardware = page.get_by_test_id("job-hardware")
    expect(hardware).to_contain_text("Not recorded: the job was cancelled", timeout=POLL_TIMEOUT_MS)
    expect(hardware).not_to_contain_text("Running on worker")
    assert js_errors == []


def test_a_wide_table_on_a_phone_shows_that_it_scrolls(page, live_server, login, running_job, js_errors):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, running_job.created_by.username, PASSWORD)
    page.goto(f"{live_server.url}/jobs/")
    box = page.locator(".table-responsive").first
    expect(box).to_have_class(re.compile("studio-scroll-more"))
    box.evaluate("(el) => el.scrollTo({ left: el.scrollWidth })")
    expect(box).not_to_have_class(re.compile("studio-scroll-more"))
    assert js_errors == []
