"""Fine-tuning jobs end to end through the API and a real Celery worker, on a tiny random Llama."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from projects.models import DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes
from tests.worker import wait_until
from training.choices import JobStatus
from training.models import ModelVersion, TrainingJob, TrainingJobEvent, TrainingMetricPoint
from training.tests.factories import BaseModelFactory

FAST_WORKER = {"STUDIO_PROGRESS_INTERVAL_SECONDS": "0.2", "STUDIO_REAPER_INTERVAL_SECONDS": "1"}


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory):
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def tiny_base_model(db, tiny_llama_path):
    return BaseModelFactory(source=str(tiny_llama_path))


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, version=1, data_classes=["internal"])
    return project


@pytest.fixture
def dataset_version(api, project) -> DatasetVersion:
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = SimpleUploadedFile("intents.jsonl", jsonl_bytes(classification_rows(12)))
    response = api.as_user(project.owner).post(
        "/api/v1/datasets/", {"project": project.pk, "file": file}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return DatasetVersion.objects.get(pk=response.json()["id"])


def create_job(api, project, version, base_model, **hyperparameters):
    config = {
        "max_steps": 40,
        "batch_size": 4,
        "learning_rate": 3e-3,
        "checkpoint_interval_steps": 5,
        "eval_interval_steps": 10,
        "epochs": None,
        **hyperparameters,
    }
    return api.post(
        "/api/v1/training-jobs/",
        {
            "project": project.pk,
            "dataset_version": version.pk,
            "base_model": base_model.key,
            "preset": "custom",
            "hyperparameters": config,
        },
        format="json",
    )


def job_state(job_id: int) -> TrainingJob:
    return TrainingJob.objects.get(pk=job_id)


# --- creation and refusal (no worker needed) -------------------------------------------------------


@pytest.mark.django_db
def test_bad_hyperparameters_are_a_400_naming_the_field(api, project, dataset_version, tiny_base_model):
    response = create_job(api, project, dataset_version, tiny_base_model, learning_rate=-1)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "hyperparameters.learning_rate" in error["details"]
    assert "learning_rate" in error["message"]
    unknown = create_job(api, project, dataset_version, tiny_base_model, lora_rank=8)
    assert "hyperparameters.lora_rank" in unknown.json()["error"]["details"]
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_a_dataset_blocked_by_policy_is_refused_with_the_reason(api, project, tiny_base_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    rows = classification_rows(12)
    rows[2] = {"input": "Send the refund to maria.lopez@fastpost.net today", "output": "billing"}
    file = SimpleUploadedFile("pii.jsonl", jsonl_bytes(rows))
    version = (
        api.as_user(project.owner)
        .post("/api/v1/datasets/", {"project": project.pk, "file": file}, format="multipart")
        .json()
    )
    response = api.post(
        "/api/v1/training-jobs/",
        {"project": project.pk, "dataset_version": version["id"], "base_model": tiny_base_model.key},
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "dataset_blocked_by_policy"
    assert "personal data" in error["message"] and "Redact" in error["message"]
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_viewers_cannot_start_jobs_and_outsiders_get_404(
    api, project, dataset_version, tiny_base_model, viewer, outsider
):
    assert create_job(api.as_user(viewer), project, dataset_version, tiny_base_model).status_code == 403
    job = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()
    baseline = ModelVersion.objects.get(project=project, kind="baseline")
    api.as_user(outsider)
    for url in (
        f"/api/v1/training-jobs/{job['id']}/",
        f"/api/v1/training-jobs/{job['id']}/events/",
        f"/api/v1/model-versions/{baseline.pk}/",
    ):
        assert api.get(url).status_code == 404, url
    assert api.post(f"/api/v1/training-jobs/{job['id']}/cancel/").status_code == 404
    assert create_job(api, project, dataset_version, tiny_base_model).status_code == 404
    assert api.get("/api/v1/training-jobs/").json()["results"] == []
    assert api.get("/api/v1/model-versions/").json()["results"] == []
    api.as_user(viewer)
    assert api.get(f"/api/v1/training-jobs/{job['id']}/").status_code == 200
    assert api.post(f"/api/v1/training-jobs/{job['id']}/cancel/").status_code == 403


@pytest.mark.django_db
def test_cancelling_a_queued_job_is_immediate_and_audited(api, project, dataset_version, tiny_base_model):
    job = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()
    cancelled = api.post(f"/api/v1/training-jobs/{job['id']}/cancel/").json()
    assert cancelled["status"] == "cancelled"
    assert api.post(f"/api/v1/training-jobs/{job['id']}/cancel/").status_code == 409
    retried = api.post(f"/api/v1/training-jobs/{job['id']}/retry/")
    assert retried.status_code == 201
    assert retried.json()["retry_of"] == job["id"]
    assert retried.json()["hyperparameters"] == cancelled["hyperparameters"]
    actions = set(
        AuditEvent.objects.filter(target_type="training.trainingjob").values_list("action", flat=True)
    )
    assert {"training_job.create", "training_job.cancel", "training_job.retry"} <= actions


@pytest.mark.django_db
def test_base_models_catalog_lists_the_default(api, owner):
    from training.catalog import default_base_model

    default_base_model()  # migrations seed it; a flushed test database may not have it
    models = api.as_user(owner).get("/api/v1/base-models/").json()["results"]
    default = next(m for m in models if m["is_default"])
    assert default["key"] == "smollm2-135m-instruct"


# --- the lease (no worker needed) ------------------------------------------------------------------


def _taken_over(job_id: int) -> None:
    """Worker "a" claims the job, its lease lapses (as if it hung), and worker "b" takes the job over."""
    from training import services

    assert services.training_job_claim(job_id=job_id, worker="a")
    assert services.training_job_claim(job_id=job_id, worker="b") is None  # a's lease is still live
    TrainingJob.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.training_job_claim(job_id=job_id, worker="b")


def _everything_about(job_id: int) -> dict:
    job = TrainingJob.objects.filter(pk=job_id).values().get()
    return {
        "job": {key: value for key, value in job.items() if key not in ("lease_expires_at", "heartbeat_at")},
        "events": list(TrainingJobEvent.objects.filter(job_id=job_id).values_list("message", flat=True)),
        "points": TrainingMetricPoint.objects.filter(job_id=job_id).count(),
        "versions": ModelVersion.objects.filter(training_job_id=job_id).count(),
        "audit": AuditEvent.objects.filter(target_type="training.trainingjob", target_id=str(job_id)).count(),
    }


@pytest.mark.django_db
def test_a_worker_whose_job_was_taken_over_can_write_nothing(api, project, dataset_version, tiny_base_model):
    from training import services

    job_id = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()["id"]
    _taken_over(job_id)
    before = _everything_about(job_id)
    stale = {"job_id": job_id, "worker": "a"}
    progress = {"total_steps": 40, "epoch": 0.5, "learning_rate": 1e-3, "tokens_per_second": 9.0}
    assert not services.training_job_heartbeat(**stale)
    assert not services.training_job_record_progress(
        **stale, step=7, train_loss=1.5, eta_seconds=3, **progress
    )
    assert not services.training_job_record_evaluation(
        **stale, step=10, val_loss=0.9, metrics={"accuracy": 1}
    )
    assert not services.training_job_record_checkpoint(**stale, step=10)
    assert not services.training_job_record_event(**stale, level="info", message="resumed")
    assert not services.training_job_save_resolved_hyperparameters(
        **stale, hyperparameters={"max_steps": 1}, device="cuda", preset="balanced"
    )
    assert (
        services.training_job_succeed(**stale, model_version_fields={}, metrics={"x": 1}, hardware={}) is None
    )
    assert not services.training_job_fail(**stale, reason="stale")
    assert not services.training_job_mark_cancelled(**stale)
    assert _everything_about(job_id) == before
    job = job_state(job_id)
    assert job.status == JobStatus.RUNNING and job.lease_owner == "b" and job.attempt == 2

    assert services.training_job_record_checkpoint(job_id=job_id, worker="b", step=10)
    assert job_state(job_id).last_checkpoint_step == 10


@pytest.mark.django_db
def test_a_claim_repeated_by_its_worker_after_a_lost_answer_is_the_same_claim(
    api, project, dataset_version, tiny_base_model
):
    """A claim commits, its answer is lost with the connection, and `on_a_live_connection` runs it again:
    the worker gets its job, on the same attempt, with one "started" event."""
    from training import services

    job_id = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()["id"]
    assert services.training_job_claim(job_id=job_id, worker="a") is not None
    again = services.training_job_claim(job_id=job_id, worker="a")
    assert again is not None and again.pk == job_id
    job = job_state(job_id)
    assert job.status == JobStatus.RUNNING and job.attempt == 1 and job.lease_owner == "a"
    assert TrainingJobEvent.objects.filter(job_id=job_id, message__startswith="Attempt").count() == 1
    assert services.training_job_claim(job_id=job_id, worker="b") is None


@pytest.mark.django_db(transaction=True)
def test_a_job_that_loses_the_database_for_longer_than_a_reconnect_is_left_to_the_reaper_not_failed(
    api, project, dataset_version, tiny_base_model, monkeypatch
):
    from django.db import OperationalError

    from training.engine import runner
    from training.execution import execute_training_job

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    job_id = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()["id"]
    monkeypatch.setattr(runner, "run_training", database_gone)
    execute_training_job(job_id)
    job = job_state(job_id)
    assert job.status == JobStatus.RUNNING and job.attempt == 1 and not job.failure_reason
    assert job.lease_owner  # still leased: once it lapses the reaper resumes it (the test below)


@pytest.mark.django_db
def test_a_preset_resolved_for_a_gpu_worker_is_saved_once_and_is_what_the_lineage_records(
    api, project, dataset_version, tiny_base_model, monkeypatch
):
    from training import execution, services
    from training.engine import hardware

    response = api.as_user(project.owner).post(
        "/api/v1/training-jobs/",
        {
            "project": project.pk,
            "dataset_version": dataset_version.pk,
            "base_model": tiny_base_model.key,
            "preset": "balanced",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    job = services.training_job_claim(job_id=response.json()["id"], worker="gpu-worker")
    as_created = job.hyperparameters
    monkeypatch.setattr(hardware, "detect", lambda: {"device": "cuda"})

    ran = execution._hyperparameters_for_this_worker(job, 200, execution.JobReporter(job.pk, "gpu-worker"))

    saved = job_state(job.pk).hyperparameters
    assert saved == ran.model_dump(mode="json") != as_created
    assert job.hyperparameters == saved  # the job the worker registers its version from (lineage "config")
    resolved_events = TrainingJobEvent.objects.filter(job_id=job.pk, message__startswith="Preset")
    assert [event.message for event in resolved_events] == ["Preset “balanced” resolved for cuda"]


@pytest.mark.django_db
def test_the_reaper_requeues_a_lapsed_job_and_fails_it_at_the_attempt_cap(
    api, project, dataset_version, tiny_base_model, settings
):
    from training import services

    settings.STUDIO_TRAINING_MAX_ATTEMPTS = 2
    job_id = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()["id"]
    lapse = {"lease_expires_at": timezone.now() - timedelta(seconds=1)}
    assert services.training_job_claim(job_id=job_id, worker="a")
    assert services.training_jobs_reap_stale() == []  # the lease is live
    TrainingJob.objects.filter(pk=job_id).update(**lapse)
    assert services.training_jobs_reap_stale() == [job_id]
    assert (job_state(job_id).status, job_state(job_id).lease_owner) == (JobStatus.QUEUED, "")
    assert not services.training_job_heartbeat(job_id=job_id, worker="a")

    assert services.training_job_claim(job_id=job_id, worker="b")
    TrainingJob.objects.filter(pk=job_id).update(**lapse)
    assert services.training_jobs_reap_stale() == []
    job = job_state(job_id)
    assert job.status == JobStatus.FAILED and "lost 2 times (limit 2)" in job.failure_reason
    assert not services.training_job_heartbeat(job_id=job_id, worker="b")


@pytest.mark.django_db
def test_a_job_left_queued_too_long_is_sent_again_once_per_wait(
    api, project, dataset_version, tiny_base_model, settings
):
    """Its message may be lost (a Redis restarted without persistence): see tests/test_faults.py."""
    from training import services

    settings.STUDIO_REDISPATCH_SECONDS = 60
    job_id = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model).json()["id"]
    waited = {"updated_at": timezone.now() - timedelta(seconds=61)}
    assert services.training_jobs_redispatch_waiting() == []  # queued a moment ago
    TrainingJob.objects.filter(pk=job_id).update(**waited)
    assert services.training_jobs_redispatch_waiting() == [job_id]
    assert services.training_jobs_redispatch_waiting() == []  # sent again: it waits anew
    assert services.training_job_claim(job_id=job_id, worker="a")
    TrainingJob.objects.filter(pk=job_id).update(**waited)
    assert services.training_jobs_redispatch_waiting() == []  # a running job is the reaper's


# --- through a real worker -------------------------------------------------------------------------


@pytest.mark.worker
def test_job_runs_on_a_worker_reports_progress_and_registers_a_model_version(
    start_worker, api, project, dataset_version, tiny_base_model
):
    start_worker("default,training", **FAST_WORKER)
    response = create_job(api.as_user(project.owner), project, dataset_version, tiny_base_model, max_steps=60)
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    seen_running = wait_until(
        lambda: (lambda j: j.status == "running" and j.step > 0 and j)(job_state(job_id)),
        timeout=120,
        interval=0.1,
        message="the job to report progress while running",
    )
    assert 0 < seen_running.step <= seen_running.total_steps == 60
    assert seen_running.heartbeat_at is not None and seen_running.tokens_per_second
    job = wait_until(
        lambda: (lambda j: j.is_terminal and j)(job_state(job_id)), timeout=180, message="the job to end"
    )
    assert job.status == JobStatus.SUCCEEDED, (job.failure_reason, job.failure_traceback)
    body = api.get(f"/api/v1/training-jobs/{job_id}/").json()
    assert body["progress"] == 1.0 and body["step"] == 60 and body["val_loss"] is not None

    version = ModelVersion.objects.get(pk=body["model_version"])
    lineage = version.lineage
    assert (
        lineage["base_model"]["key"] == "tiny-llama" and len(lineage["base_model"]["weights_checksum"]) == 64
    )
    assert lineage["dataset_version"]["sha256"] == dataset_version.sha256
    assert lineage["charter_version"] == 1 and lineage["config"]["max_steps"] == 60
    assert (
        lineage["code_version"] and lineage["hardware"]["device"] == "cpu" and lineage["trained_tokens"] > 0
    )
    names = {artifact["path"] for artifact in version.artifacts}
    assert "adapter_model.safetensors" in names and all(len(a["sha256"]) == 64 for a in version.artifacts)
    assert version.sample_predictions
    assert version.number == 1  # the baseline took number 0: the first fine-tuned model is v1
    assessment = version.metrics["assessment"]  # the model and the baseline on the same examples
    val_count = dataset_version.split_counts["val"]
    assert assessment["validation"]["examples"] == assessment["baseline"]["examples"] == val_count
    assert assessment["baseline"]["number"] == 0 and set(assessment["validation"]["per_label"]) == {
        "billing",
        "returns",
        "shipping",
    }
    comparison = assessment["comparison"]
    assert comparison["lift"] == pytest.approx(comparison["model"] - comparison["baseline"])

    events = [e["message"] for e in api.get(f"/api/v1/training-jobs/{job_id}/events/").json()["results"]]
    assert events[0] == "Job created and queued" and any("validation loss" in m for m in events)
    curves = api.get(f"/api/v1/training-jobs/{job_id}/curves/").json()
    assert any(p["train_loss"] is not None for p in curves) and any(p["val_loss"] is not None for p in curves)

    download = api.get(f"/api/v1/model-versions/{version.pk}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert "adapter_model.safetensors" in archive.namelist()
    assert ModelVersion.objects.filter(project=project, kind="baseline").count() == 1

    changed = api.patch(
        f"/api/v1/model-versions/{version.pk}/", {"description": "first cut", "tags": ["v1"]}, format="json"
    )
    assert changed.json()["description"] == "first cut"
    assert api.patch(f"/api/v1/model-versions/{version.pk}/", {"metrics": {}}, format="json").json()[
        "metrics"
    ]
    assert AuditEvent.objects.filter(action="training_job.succeeded", target_id=str(job_id)).exists()

    url = f"/api/v1/model-versions/{version.pk}"
    assert api.get(f"{url}/download/", {"artifact": "merged"}).status_code == 409
    assert api.post(f"{url}/export-merged/").status_code == 202
    merged = wait_until(
        lambda: (lambda r: r.status_code == 200 and r)(
            api.get(f"/api/v1/model-versions/{version.pk}/download/", {"artifact": "merged"})
        ),
        timeout=120,
        message="the merged export",
    )
    merged_files = zipfile.ZipFile(io.BytesIO(b"".join(merged.streaming_content))).namelist()
    assert "model.safetensors" in merged_files and "config.json" in merged_files


@pytest.mark.worker
def test_a_job_next_to_other_ml_work_trains_on_its_share_of_cores_in_bf16_as_its_lineage_says(
    start_worker, client, api, project, dataset_version, tiny_base_model, tmp_path
):
    from training.engine.cores import CoreClaim

    folder = tmp_path / "cores"
    start_worker(
        "default,training",
        STUDIO_ML_DTYPE="bf16",
        STUDIO_ML_CORES="2",
        STUDIO_ML_CORES_DIR=str(folder),
        **FAST_WORKER,
    )
    evaluation = CoreClaim(folder, "evaluation", cores=2)  # another ML process on this host
    try:
        job_id = create_job(
            api.as_user(project.owner), project, dataset_version, tiny_base_model, max_steps=6
        ).json()["id"]
        job = wait_until(
            lambda: (lambda j: j.is_terminal and j)(job_state(job_id)), timeout=180, message="the job to end"
        )
    finally:
        evaluation.release()
    # The worker gives its share back when the task ends, just after the job's last write.
    wait_until(lambda: not list(folder.glob("*.claim")), timeout=30, message="the worker's claim to go")
    assert job.status == JobStatus.SUCCEEDED, (job.failure_reason, job.failure_traceback)
    version = ModelVersion.objects.get(training_job_id=job_id)
    assert version.lineage["hardware"]["dtype"] == "bf16-autocast"
    assert version.lineage["hardware"]["dtype_chosen_by"] == "STUDIO_ML_DTYPE"
    assert version.lineage["hardware"]["threads"] == 1  # half of the two cores
    body = api.as_user(project.owner).get(f"/api/v1/model-versions/{version.pk}/").json()
    assert body["lineage"]["hardware"]["dtype"] == "bf16-autocast"
    client.force_login(project.owner)
    page = client.get(f"/jobs/{job_id}/").content.decode()
    assert "bf16-autocast" in page


@pytest.mark.worker
def test_cancel_takes_effect_within_seconds(start_worker, api, project, dataset_version, tiny_base_model):
    start_worker("default,training", **FAST_WORKER)
    job_id = create_job(
        api.as_user(project.owner), project, dataset_version, tiny_base_model, max_steps=5000
    ).json()["id"]
    wait_until(lambda: job_state(job_id).step > 0, timeout=120, message="the job to start stepping")
    assert api.post(f"/api/v1/training-jobs/{job_id}/cancel/").status_code == 200
    job = wait_until(
        lambda: (lambda j: j.is_terminal and j)(job_state(job_id)), timeout=15, message="the cancel"
    )
    assert job.status == JobStatus.CANCELLED
    assert job.step < 5000
    assert not ModelVersion.objects.filter(training_job=job).exists()


@pytest.mark.worker
def test_a_killed_worker_is_replaced_and_the_job_resumes_from_its_checkpoint(
    start_worker, api, project, dataset_version, tiny_base_model, settings
):
    lease = {"STUDIO_TRAINING_LEASE_SECONDS": "3", **FAST_WORKER}
    first = start_worker("default,training", **lease)
    job_id = create_job(
        api.as_user(project.owner),
        project,
        dataset_version,
        tiny_base_model,
        max_steps=300,
        checkpoint_interval_steps=20,
    ).json()["id"]
    wait_until(
        lambda: (job_state(job_id).last_checkpoint_step or 0) >= 20, timeout=120, message="a checkpoint"
    )
    first.kill()  # SIGKILL: no chance to clean up, exactly like an OOM kill or a lost machine
    killed_at = job_state(job_id)
    assert killed_at.status == JobStatus.RUNNING and killed_at.attempt == 1

    start_worker("default,training", **lease)
    job = wait_until(
        lambda: (lambda j: j.is_terminal and j)(job_state(job_id)), timeout=240, message="the resumed job"
    )
    assert job.status == JobStatus.SUCCEEDED, (job.failure_reason, job.failure_traceback)
    assert job.attempt == 2 and job.step == 300
    messages = list(job.events.values_list("message", flat=True))
    assert any(m.startswith("Worker lost") for m in messages)
    assert any("resumed from checkpoint at step" in m.lower() for m in messages), messages
    assert ModelVersion.objects.filter(training_job=job).count() == 1


@pytest.mark.worker
def test_past_the_attempt_cap_a_lost_job_fails_with_the_reason(
    start_worker, api, project, dataset_version, tiny_base_model, settings
):
    settings.STUDIO_TRAINING_MAX_ATTEMPTS = 1
    lease = {"STUDIO_TRAINING_LEASE_SECONDS": "3", **FAST_WORKER}
    first = start_worker("default,training", **lease)
    job_id = create_job(
        api.as_user(project.owner), project, dataset_version, tiny_base_model, max_steps=5000
    ).json()["id"]
    wait_until(lambda: job_state(job_id).step > 0, timeout=120, message="the job to start stepping")
    first.kill()
    start_worker("default", **lease)
    job = wait_until(
        lambda: (lambda j: j.is_terminal and j)(job_state(job_id)), timeout=60, message="the reaper"
    )
    assert job.status == JobStatus.FAILED
    assert "lost 1 times" in job.failure_reason and job.failure_hint
    body = api.get(f"/api/v1/training-jobs/{job_id}/").json()
    assert body["failure"]["reason"] == job.failure_reason


@pytest.mark.django_db
def test_administrators_register_local_hugging_face_folders(
    api, owner, tiny_llama_path, tmp_path, django_user_model
):
    folder = {"name": "Tiny Llama", "path": str(tiny_llama_path)}
    assert api.as_user(owner).post("/api/v1/base-models/", folder, format="json").status_code == 403
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    created = api.as_user(admin).post("/api/v1/base-models/", folder, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["architecture"] == "LlamaForCausalLM" and created.json()["parameter_count"] > 0
    (tmp_path / "config.json").write_text("{}")
    refused = api.post("/api/v1/base-models/", {"name": "Broken", "path": str(tmp_path)}, format="json")
    assert refused.status_code == 400
    assert "tokenizer" in refused.json()["error"]["message"].lower()
    assert AuditEvent.objects.filter(action="base_model.register").count() == 1


@pytest.mark.django_db
def test_the_admin_console_registers_a_folder_and_explains_a_bad_one(
    client, tiny_llama_path, tmp_path, django_user_model
):
    from training.models import BaseModel

    client.force_login(django_user_model.objects.create_superuser("root", "root@example.test", "pw"))
    bad = client.post("/admin/training/basemodel/add/", {"name": "Broken", "path": str(tmp_path)})
    assert bad.status_code == 200
    assert b"config.json is missing" in bad.content
    good = client.post("/admin/training/basemodel/add/", {"name": "Tiny Llama", "path": str(tiny_llama_path)})
    assert good.status_code == 302
    assert BaseModel.objects.get(key="tiny-llama").architecture == "LlamaForCausalLM"
