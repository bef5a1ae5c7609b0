"""A project with a production version, a candidate, a signed eval spec and helpers to record eval runs."""

from __future__ import annotations

import io

import pytest


@pytest.fixture
def project(team, owner):
    from projects.tests.factories import CharterFactory, ProjectFactory

    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(
        project=project, author=owner, version=1, data_classes=["internal"], non_goals="No legal advice."
    )
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
def make_version(project, dataset_version, owner):
    """`make_version(number, weights=b"...", base=<BaseModel>, dataset_version=...)`: a fine-tuned version."""
    from governance.tests.helpers import version_with_weights

    def make(number: int, **kwargs):
        kwargs.setdefault("dataset_version", dataset_version)
        return version_with_weights(project, owner, number, **kwargs)

    return make


@pytest.fixture
def signed_spec(project, product_owner, dataset_version):
    from governance.tests.helpers import sign_spec

    return sign_spec(project, product_owner)


@pytest.fixture
def production(make_version, signed_spec, owner):
    """Version 1, in production (put there directly, as its own first promotion)."""
    from django.db import transaction

    from governance.choices import StageChangeKind
    from governance.services import stage_set
    from governance.tests.helpers import record_run

    version = make_version(1, weights=b"v1")
    record_run(version, signed_spec)
    with transaction.atomic():
        stage_set(version=version, to_stage="production", kind=StageChangeKind.PROMOTION, actor=owner)
    return version


@pytest.fixture
def candidate(make_version, signed_spec, production):
    """Version 2: new weights, same base model and dataset; gates pass (tier 1)."""
    from governance.tests.helpers import record_run

    version = make_version(2, weights=b"v2")
    record_run(version, signed_spec)
    return version
