"""A project with a production version (what an endpoint needs), and endpoints and keys on top of it."""

from __future__ import annotations

import io

from projects import services as project_services
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes
from serving import services
from serving.models import Endpoint
from training.choices import JobStatus, Stage
from training.models import ModelVersion
from training.tests.factories import BaseModelFactory


def project_in_production(*, team, owner, settings, slug="support-intents", **charter) -> tuple:
    """(project, production ModelVersion) trained on an uploaded classification dataset."""
    from tests.test_training_pages import make_job, model_version_with_artifacts

    project = ProjectFactory(team=team, owner=owner, name=slug.replace("-", " ").title(), slug=slug)
    CharterFactory(project=project, author=owner, version=1, **{"data_classes": ["internal"], **charter})
    dataset_version = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(12))),
        filename="intents.jsonl",
        name="Intents",
    )
    job = make_job(project, dataset_version, BaseModelFactory(), status=JobStatus.SUCCEEDED)
    version = model_version_with_artifacts(project, job, settings)
    ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.PRODUCTION)
    version.refresh_from_db()
    return project, version


def staging_version(production: ModelVersion) -> ModelVersion:
    """Another version of the same project, approved to staging (a shadow or canary candidate)."""
    return ModelVersion.objects.create(
        project=production.project,
        number=production.number + 1,
        base_model=production.base_model,
        dataset_version=production.dataset_version,
        stage=Stage.STAGING,
        metrics={"accuracy": 0.93},
        created_by=production.created_by,
    )


def published(*, project, user, slug=None, **settings) -> Endpoint:
    return services.endpoint_publish(project=project, user=user, slug=slug or project.slug, **settings)
