"""Objects the evaluation tests share: a classification project with a dataset, model versions, specs."""

from __future__ import annotations

import io

import pytest


@pytest.fixture
def project(team, owner, product_owner):
    from projects.tests.factories import CharterFactory, ProjectFactory

    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


@pytest.fixture
def dataset_version(project, owner):
    from projects import services as project_services
    from projects.tests.factories import classification_rows, jsonl_bytes

    return project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(12))),
        filename="i.jsonl",
        name="Intents",
    )


@pytest.fixture
def model_versions(project, dataset_version, owner):
    """The baseline (v1) and a fine-tuned version (v2) with stored artifacts."""
    from training.models import ModelVersion
    from training.tests.factories import BaseModelFactory

    base_model = BaseModelFactory()
    baseline = ModelVersion.objects.create(
        project=project,
        number=1,
        kind="baseline",
        base_model=base_model,
        dataset_version=dataset_version,
        training_config={"instructions": project.instructions, "labels": ["billing", "returns", "shipping"]},
        lineage={"base_model": {"key": "tiny-llama"}, "dataset_version": {"id": dataset_version.pk}},
        created_by=owner,
    )
    tuned = ModelVersion.objects.create(
        project=project,
        number=2,
        kind="fine_tuned",
        base_model=base_model,
        dataset_version=dataset_version,
        storage_name=f"{project.pk}-tuned",
        training_config={"hyperparameters": {"learning_rate": 0.001, "lora_r": 8}},
        lineage={
            "base_model": {"key": "tiny-llama"},
            "dataset_version": {"id": dataset_version.pk},
            "code_version": "abc",
        },
        created_by=owner,
    )
    return baseline, tuned


@pytest.fixture
def signed_spec(project, product_owner, dataset_version):
    from evaluation import services

    spec = services.eval_spec_create(project=project, user=product_owner, document={})
    return services.eval_spec_sign(spec=spec, user=product_owner)
