"""Training pages through Django's test client: the jobs list, the new-job form, the job page in every
status, model versions with lineage and download; what each role sees and may do; outsiders meet 404."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects import services as project_services
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes
from training.choices import EventLevel, JobStatus, ModelVersionKind
from training.engine.config import resolve_preset
from training.models import ModelVersion, TrainingJob, TrainingJobEvent, TrainingMetricPoint
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def upload(project, user, rows, name="Intents"):
    return project_services.dataset_upload(
        project=project, user=user, file=io.BytesIO(jsonl_bytes(rows)), filename="intents.jsonl", name=name
    )


@pytest.fixture
def version(project, owner):
    return upload(project, owner, classification_rows(12))


@pytest.fixture
def base_model(db):
    return BaseModelFactory()


def make_job(project, version, base_model, *, status=JobStatus.QUEUED, **fields) -> TrainingJob:
    """A job row as a worker would have left it (no worker is involved in these tests)."""
    config = resolve_preset("quick", n_train_examples=30, device_type="cpu").model_dump(mode="json")
    return TrainingJob.objects.create(
        project=project,
        dataset_version=version,
        charter=project.charters.first(),
        base_model=base_model,
        created_by=project.owner,
        preset="quick",
        hyperparameters=config,
        status=status,
        **fields,
    )


def running_job(project, version, base_model) -> TrainingJob:
    job = make_job(
        project,
        version,
        base_model,
        status=JobStatus.RUNNING,
        step=30,
        total_steps=120,
        epoch=0.5,
        train_loss=1.2345,
        tokens_per_second=812.4,
        eta_seconds=754,
        attempt=1,
        lease_owner="worker-1@gpu-a",
        started_at=timezone.now() - timedelta(minutes=3),
    )
    for step in (10, 20, 30):
        TrainingMetricPoint.objects.create(job=job, step=step, train_loss=2.0 - step / 30)
    TrainingMetricPoint.objects.create(job=job, step=20, val_loss=1.5, metrics={"accuracy": 0.6})
    TrainingJobEvent.objects.create(job=job, level=EventLevel.INFO, message="Attempt 1 of 3 started")
    return job


def model_version_with_artifacts(project, job, settings) -> ModelVersion:
    storage_name = f"{project.pk}-pagetest"
    folder = settings.ARTIFACTS_DIR / "models" / storage_name
    folder.mkdir(parents=True, exist_ok=True)
    files = {"adapter_model.safetensors": b"\x00weights" * 64, "adapter_config.json": b'{"r": 8}'}
    artifacts = []
    for name, content in files.items():
        (folder / name).write_bytes(content)
        artifacts.append({"path": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()})
    return ModelVersion.objects.create(
        project=project,
        number=2,
        kind=ModelVersionKind.FINE_TUNED,
        training_job=job,
        base_model=job.base_model,
        dataset_version=job.dataset_version,
        storage_name=storage_name,
        artifacts=artifacts,
        training_config={"method": "lora"},
        metrics={"accuracy": 0.9167, "val_loss": 0.4321, "val_examples": 12},
        lineage={
            "base_model": {"key": "tiny-llama", "name": "Tiny", "weights_checksum": "b" * 64},
            "dataset_version": {
                "id": job.dataset_version_id,
                "dataset": "Intents",
                "number": 1,
                "sha256": job.dataset_version.sha256,
                "split_seed": 13,
            },
            "charter_version": 1,
            "training_job": job.pk,
            "config": job.hyperparameters,
            "code_version": "abc1234",
            "hardware": {"device": "cpu", "name": "Test CPU", "threads": 2, "dtype": "fp32"},
            "durations": {"queued_seconds": 3.0, "training_seconds": 125.2, "total_seconds": 140.0},
            "trained_tokens": 48213,
            "steps": 120,
            "epochs": 2.0,
            "attempts": 1,
        },
        sample_predictions=[{"input": "Where is parcel 7?", "output": "shipping"}],
        created_by=project.owner,
    )


def succeeded_job(project, version, base_model, settings) -> tuple[TrainingJob, ModelVersion]:
    job = make_job(
        project,
        version,
        base_model,
        status=JobStatus.SUCCEEDED,
        step=120,
        total_steps=120,
        epoch=2.0,
        val_loss=0.4321,
        metrics={"accuracy": 0.9167},
        hardware={"device": "cpu", "name": "Test CPU", "threads": 2, "dtype": "fp32"},
        finished_at=timezone.now(),
    )
    return job, model_version_with_artifacts(project, job, settings)


def text(response) -> str:
    return response.content.decode()


# --- what members see ------------------------------------------------------------------------------


def test_every_page_renders_for_every_member(client, project, version, base_model, member_by_role, settings):
    job = running_job(project, version, base_model)
    _, model = succeeded_job(project, version, base_model, settings)
    for user in member_by_role.values():
        client.force_login(user)
        for url in (
            reverse("training:job_list"),
            reverse("training:job_detail", args=[job.pk]),
            reverse("training:model_list"),
            reverse("training:model_detail", args=[model.pk]),
        ):
            response = client.get(url)
            assert response.status_code == 200, (user.username, url)
    client.force_login(member_by_role["ml_engineer"])
    listing = text(client.get(reverse("training:job_list")))
    assert f'data-job="{job.pk}"' in listing and "Support intents" in listing and "Intents v1" in listing
    assert "25%" in listing and "New training job" in listing


def test_jobs_list_filters_by_status_and_project_with_a_constant_query_count(
    client, owner, project, version, base_model, team
):
    other = ProjectFactory(team=team, owner=owner, name="Refunds", slug="refunds")
    make_job(project, version, base_model, status=JobStatus.FAILED)
    running = running_job(project, version, base_model)
    client.force_login(owner)

    filtered = text(client.get(reverse("training:job_list"), {"status": "running"}))
    assert f'data-job="{running.pk}"' in filtered and filtered.count("data-job=") == 1
    assert "No jobs match" in text(client.get(reverse("training:job_list"), {"project": other.pk}))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("training:job_list")).status_code == 200
        return len(captured)

    few = queries()
    for _ in range(5):
        make_job(project, version, base_model)
    assert queries() == few


def test_jobs_and_models_pages_work_for_someone_without_a_team(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="loner", password="x"))
    for name in ("training:job_list", "training:model_list"):
        response = client.get(reverse(name))
        assert response.status_code == 200 and "not in a team yet" in text(response)


# --- the job page in each status -----------------------------------------------------------------------


def test_running_job_page_shows_progress_curves_events_and_live_wiring(
    client, ml_engineer, project, version, base_model
):
    job = running_job(project, version, base_model)
    client.force_login(ml_engineer)
    page = text(client.get(reverse("training:job_detail", args=[job.pk])))
    assert 'data-status="running"' in page and "studio-pulse" in page
    assert 'data-width="25"' in page and '<span data-live="step">30</span>' in page
    assert "12 min" in page and "812" in page and "1.2345" in page  # ETA in words, tokens/s, train loss
    assert 'id="loss-chart"' in page and "Validation loss" in page and "Train loss" in page
    assert "Attempt 1 of 3 started" in page
    assert "js/job_live.js" in page
    assert f"/api/v1/training-jobs/{job.pk}/curves/" in page
    assert "worker-1@gpu-a" in page  # hardware is known at the end; until then, the worker
    assert "Learning rate" in page and "0.001" in page  # the configuration
    assert reverse("projects:dataset_version_detail", args=[version.pk]) in page
    assert reverse("projects:charter_history", args=[project.pk]) in page
    cancel = reverse("training:job_cancel", args=[job.pk])
    assert f'action="{cancel}" data-live="cancel-form">' in page


def test_failed_job_page_explains_the_failure_and_offers_retry(client, owner, project, version, base_model):
    job = make_job(
        project,
        version,
        base_model,
        status=JobStatus.FAILED,
        failure_reason="The worker ran out of memory at batch size 64.",
        failure_hint="Lower the batch size or the max sequence length.",
        failure_traceback="Traceback (most recent call last):\n  torch.OutOfMemoryError: CUDA out of memory",
        finished_at=timezone.now(),
    )
    client.force_login(owner)
    page = text(client.get(reverse("training:job_detail", args=[job.pk])))
    assert "The worker ran out of memory at batch size 64." in page
    assert "Lower the batch size" in page
    assert "<details" in page and "Traceback (for engineers)" in page and "OutOfMemoryError" in page
    retry = reverse("training:job_retry", args=[job.pk])
    assert f'action="{retry}" data-live="retry-form">' in page  # shown, not hidden
    assert 'data-live="cancel-form" hidden' in page
    assert "js/job_live.js" not in page  # nothing left to follow


def test_succeeded_job_page_links_its_model_version(client, owner, project, version, base_model, settings):
    job, model = succeeded_job(project, version, base_model, settings)
    client.force_login(owner)
    page = text(client.get(reverse("training:job_detail", args=[job.pk])))
    assert 'data-status="succeeded"' in page and 'data-width="100"' in page
    assert (
        f'href="{reverse("training:model_detail", args=[model.pk])}"' in page and "Model version v2" in page
    )
    assert "Test CPU" in page and "Accuracy at the last check in training 0.9167" in page
    assert 'data-live="retry-form" hidden' in page and 'data-live="cancel-form" hidden' in page


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.CANCELLED])
def test_queued_and_cancelled_job_pages_render(client, owner, project, version, base_model, status):
    job = make_job(project, version, base_model, status=status)
    client.force_login(owner)
    page = text(client.get(reverse("training:job_detail", args=[job.pk])))
    assert f'data-status="{status}"' in page and "No events yet." in page
    assert ('data-live="cancel-form" hidden' in page) == (status == JobStatus.CANCELLED)
    assert ('data-live="retry-form" hidden' in page) == (status == JobStatus.QUEUED)


# --- the new-job form ----------------------------------------------------------------------------------


def test_new_job_form_offers_training_versions_and_disables_blocked_ones_with_the_reason(
    client, product_owner, project, version, base_model, owner
):
    rows = classification_rows(12)
    rows[2] = {"input": "Send the refund to maria.lopez@fastpost.net today", "output": "billing"}
    blocked = upload(project, owner, rows, name="Raw mail")
    client.force_login(product_owner)
    page = text(client.get(reverse("training:job_create"), {"project": project.pk}))
    assert f'<option value="{version.pk}" selected>' in page
    assert f'<option value="{blocked.pk}" disabled' in page
    assert "does not allow. Redact the dataset or change the charter." in page
    for preset in ("Quick", "Balanced", "Thorough"):
        assert f"{preset} — " in page
    assert 'value="balanced"' in page and 'id="preset-settings"' in page
    for field in ("learning_rate", "max_steps", "lora_r", "lora_target_modules", "early_stopping_patience"):
        assert f'name="{field}"' in page
    assert 'name="learning_rate" min="0" max="1.0"' in page or 'max="1.0"' in page

    response = client.post(
        reverse("training:job_create"),
        {
            "project": project.pk,
            "dataset_version": blocked.pk,
            "base_model": base_model.key,
            "method": "lora",
            "preset": "quick",
        },
    )
    assert response.status_code == 200
    assert "Redact the dataset" in str(response.context["form"].errors["dataset_version"])
    assert not TrainingJob.objects.exists()


def post_job(client, project, version, base_model, **extra):
    data = {
        "project": project.pk,
        "dataset_version": version.pk,
        "base_model": base_model.key,
        "method": "lora",
        "preset": "quick",
        **extra,
    }
    return client.post(reverse("training:job_create"), data)


def test_starting_a_job_with_a_preset_and_overrides_opens_its_page(
    client, ml_engineer, project, version, base_model
):
    client.force_login(ml_engineer)
    response = post_job(client, project, version, base_model)
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("training:job_detail", args=[job.pk])
    assert job.preset == "quick" and job.status == JobStatus.QUEUED and job.created_by == ml_engineer

    post_job(
        client,
        project,
        version,
        base_model,
        learning_rate="0.01",
        max_steps="7",
        lora_target_modules="q_proj, v_proj",
    )
    custom = TrainingJob.objects.latest("id")
    assert custom.preset == "custom"
    assert custom.hyperparameters["learning_rate"] == 0.01 and custom.hyperparameters["max_steps"] == 7
    assert custom.hyperparameters["lora_target_modules"] == ["q_proj", "v_proj"]
    assert custom.hyperparameters["lora_r"] == 8  # the rest comes from the quick preset


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("learning_rate", "-1", "greater than 0"),
        ("batch_size", "0", "greater than or equal to 1"),
        ("lora_dropout", "1.5", "less than 1"),
        ("epochs", "lots", "Enter a number"),
        ("max_seq_length", "8", "greater than or equal to 16"),
    ],
)
def test_bad_hyperparameters_come_back_as_errors_on_their_field(
    client, owner, project, version, base_model, field, value, message
):
    client.force_login(owner)
    response = post_job(client, project, version, base_model, **{field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in errors[field][0]
    assert 'class="card mb-4 studio-advanced" open' in text(response)  # the Advanced section opens on error
    assert not TrainingJob.objects.exists()


def test_a_project_without_training_data_says_so(client, owner, team):
    empty = ProjectFactory(team=team, owner=owner, name="Empty", slug="empty")
    client.force_login(owner)
    page = text(client.get(reverse("training:job_create"), {"project": empty.pk}))
    assert "has no training dataset yet" in page and "Upload one" in page


# --- permissions ---------------------------------------------------------------------------------------


def test_viewers_see_no_job_controls_and_get_403_on_every_post(
    client, viewer, project, version, base_model, settings
):
    running = running_job(project, version, base_model)
    failed = make_job(project, version, base_model, status=JobStatus.FAILED, failure_reason="x")
    _, model = succeeded_job(project, version, base_model, settings)
    client.force_login(viewer)
    assert "New training job" not in text(client.get(reverse("training:job_list")))
    running_page = text(client.get(reverse("training:job_detail", args=[running.pk])))
    assert reverse("training:job_cancel", args=[running.pk]) not in running_page
    failed_page = text(client.get(reverse("training:job_detail", args=[failed.pk])))
    assert reverse("training:job_retry", args=[failed.pk]) not in failed_page and "Retry" not in failed_page
    assert 'name="description"' not in text(client.get(reverse("training:model_detail", args=[model.pk])))
    assert client.get(reverse("training:job_create")).status_code == 403
    assert post_job(client, project, version, base_model).status_code == 403
    assert client.post(reverse("training:job_cancel", args=[running.pk])).status_code == 403
    assert client.post(reverse("training:job_retry", args=[failed.pk])).status_code == 403
    edit = client.post(reverse("training:model_detail", args=[model.pk]), {"description": "mine", "tags": ""})
    assert edit.status_code == 403
    running.refresh_from_db()
    model.refresh_from_db()
    assert running.cancel_requested_at is None and model.description == ""
    assert TrainingJob.objects.count() == 3


def test_outsiders_get_404_on_every_job_and_model_page(
    client, outsider, project, version, base_model, settings
):
    job = make_job(project, version, base_model, status=JobStatus.FAILED)
    _, model = succeeded_job(project, version, base_model, settings)
    client.force_login(outsider)
    for url in (
        reverse("training:job_detail", args=[job.pk]),
        reverse("training:model_detail", args=[model.pk]),
        reverse("training:model_download", args=[model.pk]),
        reverse("training:job_create") + f"?project={project.pk}",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("training:job_cancel", args=[job.pk]),
        reverse("training:job_retry", args=[job.pk]),
        reverse("training:model_detail", args=[model.pk]),
    ):
        assert client.post(url).status_code == 404, url
    assert f'data-job="{job.pk}"' not in text(client.get(reverse("training:job_list")))
    assert f'data-model-version="{model.pk}"' not in text(client.get(reverse("training:model_list")))


# --- cancel and retry ----------------------------------------------------------------------------------


def test_cancel_and_retry_from_the_job_page(client, product_owner, project, version, base_model):
    queued = make_job(project, version, base_model)
    running = running_job(project, version, base_model)
    client.force_login(product_owner)

    response = client.post(reverse("training:job_cancel", args=[queued.pk]), follow=True)
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED and "cancelled before it started" in text(response)

    client.post(reverse("training:job_cancel", args=[running.pk]))
    running.refresh_from_db()
    assert running.status == JobStatus.RUNNING and running.cancel_requested_at is not None
    page = text(client.get(reverse("training:job_detail", args=[running.pk])))
    assert 'data-live="cancelling">' in page  # the notice is visible

    again = client.post(reverse("training:job_cancel", args=[queued.pk]), follow=True)
    assert "already cancelled" in text(again)

    response = client.post(reverse("training:job_retry", args=[queued.pk]))
    retry = TrainingJob.objects.get(retry_of=queued)
    assert response.url == reverse("training:job_detail", args=[retry.pk])
    assert retry.hyperparameters == queued.hyperparameters and retry.status == JobStatus.QUEUED
    refused = client.post(reverse("training:job_retry", args=[running.pk]), follow=True)
    assert "Only failed or cancelled jobs can be retried." in text(refused)


# --- model versions ------------------------------------------------------------------------------------


def test_model_page_shows_lineage_artifacts_and_samples_and_downloads_a_zip(
    client, ml_engineer, project, version, base_model, settings
):
    _, model = succeeded_job(project, version, base_model, settings)
    client.force_login(ml_engineer)
    page = text(client.get(reverse("training:model_detail", args=[model.pk])))
    for expected in (
        "b" * 64,  # base model checksum
        version.sha256,  # dataset version checksum
        "abc1234",  # code version
        "Test CPU",
        "Training 2 min 05 s",
        "48213",
        "adapter_model.safetensors",
        model.artifacts[0]["sha256"],
        "Where is parcel 7?",
        "0.9167",
        "Download adapter",
    ):
        assert expected in page, expected

    listing = text(client.get(reverse("training:model_list")))
    assert f'data-model-version="{model.pk}"' in listing and "0.917" in listing and "Fine-tuned" in listing

    download = client.get(reverse("training:model_download", args=[model.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    sent = b"".join(download.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(sent))
    assert sorted(archive.namelist()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    from audit.models import AuditEvent

    event = AuditEvent.objects.get(action="model_version.download", target_id=str(model.pk))
    assert event.actor == ml_engineer and event.payload["artifact"] == "adapter"
    assert event.payload["sha256"] == hashlib.sha256(sent).hexdigest() and event.payload["size"] == len(sent)
    assert event.payload["files"] == {a["path"]: a["sha256"] for a in model.artifacts}

    response = client.post(
        reverse("training:model_detail", args=[model.pk]), {"description": "First cut", "tags": "v1, intents"}
    )
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.description == "First cut" and model.tags == ["intents", "v1"]


def test_baseline_page_explains_it_is_the_prompted_base_model(client, owner, project, version, base_model):
    from training.services import baseline_ensure

    baseline = baseline_ensure(project=project, dataset_version=version, base_model=base_model, user=owner)
    client.force_login(owner)
    page = text(client.get(reverse("training:model_detail", args=[baseline.pk])))
    assert "baseline" in page and "no training" in page and "Download adapter" not in page
    assert "Examples in the prompt" in page
    response = client.get(reverse("training:model_download", args=[baseline.pk]), follow=True)
    assert "no stored weights" in text(response)


def test_merged_weights_are_exported_on_request_then_downloadable(
    client, owner, viewer, project, version, base_model, settings, django_capture_on_commit_callbacks
):
    from audit.models import AuditEvent

    _, model = succeeded_job(project, version, base_model, settings)
    client.force_login(viewer)
    assert client.post(f"/models/{model.pk}/export-merged/").status_code == 403
    client.force_login(owner)
    page = text(client.get(f"/models/{model.pk}/"))
    assert 'data-testid="export-merged"' in page and 'data-testid="download-merged"' not in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/models/{model.pk}/export-merged/", follow=True)
    assert "A worker is merging" in text(response)
    following = text(response)  # the page follows the export until the download appears
    assert 'data-testid="merging"' in following and 'data-refresh-seconds="5"' in following
    assert 'data-testid="export-merged"' not in following
    assert len(callbacks) == 1  # the export task is queued once the request's transaction commits
    assert AuditEvent.objects.filter(action="model_version.export_merged", target_id=str(model.pk)).exists()
    merged = model.merged_dir  # what the worker writes
    merged.mkdir()
    (merged / "model.safetensors").write_bytes(b"\x00merged")
    assert 'data-testid="download-merged"' in text(client.get(f"/models/{model.pk}/"))
    download = client.get(f"/models/{model.pk}/download/merged/")
    sent = b"".join(download.streaming_content)
    assert zipfile.ZipFile(io.BytesIO(sent)).namelist() == ["model.safetensors"]
    event = AuditEvent.objects.get(action="model_version.download", target_id=str(model.pk))
    assert event.actor == owner and event.payload["artifact"] == "merged"
    assert event.payload["sha256"] == hashlib.sha256(sent).hexdigest()
