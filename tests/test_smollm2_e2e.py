"""The real SmolLM2-135M-Instruct, end to end: API → worker → LoRA → model version → reload."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.tests.factories import CharterFactory, ProjectFactory, jsonl_bytes
from tests.worker import wait_until
from training.choices import JobStatus
from training.models import BaseModel, ModelVersion, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.worker]

SENTIMENTS = {
    "positive": ["I love this {}", "The {} is wonderful", "Great {}, very happy", "Fantastic {} today"],
    "negative": ["I hate this {}", "The {} is awful", "Terrible {}, very sad", "Horrible {} today"],
}
THINGS = ["phone", "coffee", "service", "delivery", "screen", "battery", "course", "book", "movie"]


def sentiment_rows() -> list[dict]:
    return [
        {"input": template.format(thing), "output": label}
        for label, templates in SENTIMENTS.items()
        for template in templates
        for thing in THINGS
    ]


@pytest.mark.timeout(1200)  # 24 real SmolLM2 steps: ~80 s on a quiet 2-core machine, far longer on a busy one
def test_short_lora_run_on_smollm2_lowers_the_loss_and_the_reloaded_version_answers_the_same(
    start_worker, api, team, owner
):
    project = ProjectFactory(team=team, owner=owner, instructions="Is the review positive or negative?")
    CharterFactory(project=project, version=1)
    upload = api.as_user(owner).post(
        "/api/v1/datasets/",
        {"project": project.pk, "file": SimpleUploadedFile("reviews.jsonl", jsonl_bytes(sentiment_rows()))},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    assert upload.json()["row_count"] == 72

    start_worker("default,training", STUDIO_PROGRESS_INTERVAL_SECONDS="0.1")
    response = api.post(
        "/api/v1/training-jobs/",
        {
            "project": project.pk,
            "dataset_version": upload.json()["id"],
            "preset": "custom",
            "hyperparameters": {
                "max_steps": 24,
                "epochs": None,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "eval_interval_steps": 12,
                "checkpoint_interval_steps": 12,
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["base_model"] == "smollm2-135m-instruct"
    job_id = response.json()["id"]
    job = wait_until(
        lambda: (lambda j: j.is_terminal and j)(TrainingJob.objects.get(pk=job_id)),
        timeout=900,
        interval=1,
        message="the SmolLM2 job",
    )
    assert job.status == JobStatus.SUCCEEDED, (job.failure_reason, job.failure_traceback)

    losses = [p.train_loss for p in job.metric_points.exclude(train_loss=None).order_by("step")]
    assert len(losses) >= 6
    assert statistics.mean(losses[-3:]) < 0.5 * statistics.mean(losses[:3]), losses
    assert job.val_loss is not None and job.val_loss < losses[0]

    base = BaseModel.objects.get(key="smollm2-135m-instruct")
    assert (
        base.cached_at is not None and len(base.weights_checksum) == 64 and base.parameter_count > 100_000_000
    )
    version = ModelVersion.objects.get(training_job=job)
    assert version.lineage["base_model"]["weights_checksum"] == base.weights_checksum
    adapter = Path(version.artifacts_dir)
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0

    from training.engine.base_models import ensure_cached
    from training.engine.inference import load_model_version

    predictor = load_model_version(adapter, ensure_cached(None, Path(settings.MODEL_CACHE_DIR)), device="cpu")
    inputs = [sample["input"] for sample in version.sample_predictions]
    answers = [s["output"] for s in version.sample_predictions]
    assert predictor.generate(inputs, max_new_tokens=48) == answers
    # scoring the labels (evaluation's and serving's path) agrees with generating the answer
    assert [label for label, _ in predictor.classify(inputs)] == answers
    assert {s["output"] for s in version.sample_predictions} <= {"positive", "negative"}
