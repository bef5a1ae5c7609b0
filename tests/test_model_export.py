"""A model version is worth something outside the studio: the downloaded adapter names its base model by
a public id (never a server path), ships a real model card, and loads with `PeftModel.from_pretrained`
on the base weights from the studio's cache without editing a file. The assessment stored at the end of
a job (the model and its baseline on the same validation examples) is what the card reports."""

from __future__ import annotations

import io
import json
import shutil
import uuid
import zipfile

import pytest
from django.urls import reverse

from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows
from tests.test_training_pages import succeeded_job, upload
from tests.worker import ON_POSTGRESQL, own_connection_dropped_before
from training.catalog import BUNDLED_PUBLIC_ID, default_base_model
from training.choices import JobStatus, ModelVersionKind
from training.engine.assessment import baseline_instructions, compare, label_report
from training.models import ModelVersion, TrainingJob
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.django_db
LABELS = ["billing", "returns", "shipping"]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def trained(tiny_path, tmp_path_factory):
    """A real adapter: two LoRA steps of the tiny Llama on the intents rows."""
    from training.engine.config import Hyperparameters
    from training.engine.runner import NullReporter, run_training

    rows = classification_rows(6)
    return run_training(
        work_dir=tmp_path_factory.mktemp("job"),
        base_model=tiny_path,
        train_rows=rows,
        val_rows=rows[:6],
        instructions="Classify the customer message into one intent.",
        task_type="classification",
        labels=LABELS,
        hyperparameters=Hyperparameters(max_steps=2, batch_size=4, lora_r=4, lora_alpha=8, epochs=None),
        reporter=NullReporter(),
    )


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def register(project, owner, base_model, trained, settings) -> ModelVersion:
    version = upload(project, owner, classification_rows(12))
    job = TrainingJob.objects.create(
        project=project,
        dataset_version=version,
        charter=project.charters.first(),
        base_model=base_model,
        created_by=owner,
        preset="custom",
        hyperparameters={"max_steps": 2},
        status=JobStatus.SUCCEEDED,
    )
    storage = f"{project.pk}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(trained.output_dir, settings.ARTIFACTS_DIR / "models" / storage)
    assessment = {
        "validation": label_report(
            ["billing", "returns", "returns"], ["billing", "returns", "shipping"], LABELS
        ),
        "baseline": label_report(
            ["returns", "returns", "returns"], ["billing", "returns", "shipping"], LABELS
        ),
    }
    assessment["comparison"] = compare(assessment["validation"], assessment["baseline"])
    return ModelVersion.objects.create(
        project=project,
        number=2,
        kind=ModelVersionKind.FINE_TUNED,
        training_job=job,
        base_model=base_model,
        dataset_version=version,
        storage_name=storage,
        artifacts=trained.artifacts,
        training_config=json.loads((trained.output_dir / "training_config.json").read_text()),
        metrics={**trained.metrics, "assessment": assessment},
        lineage={"dataset_version": {"dataset": "Intents", "number": 1, "sha256": version.sha256}},
        created_by=owner,
    )


def download(client, user, version, tmp_path):
    client.force_login(user)
    response = client.get(reverse("training:model_download", args=[version.pk]))
    assert response.status_code == 200
    folder = tmp_path / "unzipped"
    zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).extractall(folder)
    return folder


def test_the_unzipped_adapter_loads_on_the_cached_base_without_editing_a_file(
    client, owner, project, tiny_path, trained, settings, tmp_path
):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.engine.inference import load_model_version

    base_model = BaseModelFactory(source=str(tiny_path), name="Tiny random Llama (tests)")
    version = register(project, owner, base_model, trained, settings)
    folder = download(client, owner, version, tmp_path)

    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "Tiny random Llama (tests)"  # the registered name
    assert str(tiny_path) not in (folder / "adapter_config.json").read_text()

    card = (folder / "README.md").read_text()
    assert "## Intended use" in card and "Route support e-mails" in card  # the charter's problem
    assert "66.7%" in card and "33.3%" in card and "+33.3 points" in card  # model, baseline, lift
    assert "| shipping | 1 |" in card and "only 3 examples" in card  # per label, small-sample caveat

    base = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    loaded = PeftModel.from_pretrained(base, folder).eval()
    reference = load_model_version(
        settings.ARTIFACTS_DIR / "models" / version.storage_name, tiny_path, device="cpu"
    )
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, reference.model(ids).logits, atol=1e-5)


def test_the_bundled_model_is_named_by_its_public_hub_id(client, owner, project, settings, tmp_path):
    version = upload(project, owner, classification_rows(12))
    _job, model = succeeded_job(project, version, default_base_model(), settings)
    folder = download(client, owner, model, tmp_path)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == BUNDLED_PUBLIC_ID == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert f"base_model: {BUNDLED_PUBLIC_ID}" in (folder / "README.md").read_text()


def test_the_baseline_prompt_holds_instructions_labels_and_examples():
    text = baseline_instructions(
        {
            "instructions": "Classify.",
            "labels": LABELS,
            "few_shot_examples": [{"input": "Where is parcel 7?", "output": "shipping"}],
        }
    )
    assert text.startswith("Classify.") and "exactly one of: billing, returns, shipping" in text
    assert "Input: Where is parcel 7?\nOutput: shipping" in text
    report = label_report(["a", "a"], ["a", "b"], ["a", "b"])
    assert report["accuracy"] == 0.5 and report["per_label"]["b"]["recall"] == 0.0
    assert report["per_label"]["b"]["precision"] is None


if ON_POSTGRESQL:

    def test_try_export_and_prepare_outlive_their_workers_connection_dropped(
        transactional_db, owner, project, tiny_path, trained, settings, caplog
    ):
        """The short worker tasks a user starts from a model page (Try it, Export merged weights) and the
        base model's preparation each read their row on the worker's connection: one dropped just before
        that read costs a reconnect, not the task."""
        from training.execution import export_merged_weights, try_model_version
        from training.models import BaseModel
        from training.tasks import base_model_prepare

        version = register(project, owner, BaseModelFactory(source=str(tiny_path)), trained, settings)
        caplog.set_level("WARNING")

        def reads(table: str):
            return lambda sql, params: sql.lstrip().startswith("SELECT") and f'"{table}"' in sql

        with own_connection_dropped_before(reads("training_modelversion")) as dropped:
            answer = try_model_version(version.pk, "I was charged twice for order 7")
        assert dropped and answer["output"] in LABELS and 0 < answer["confidence"] <= 1

        with own_connection_dropped_before(reads("training_modelversion")) as dropped:
            export_merged_weights(version.pk)
        assert dropped and (version.merged_dir / "config.json").is_file()

        BaseModel.objects.filter(pk=version.base_model_id).update(weights_checksum="")
        with own_connection_dropped_before(reads("training_basemodel")) as dropped:
            base_model_prepare(version.base_model_id)
        assert dropped and BaseModel.objects.get(pk=version.base_model_id).weights_checksum
        assert caplog.text.count("The database connection was lost; trying again") >= 3
