"""What other apps read from evaluation: serving's routing threshold comes from the coverage curve of the
production version's latest succeeded eval run."""

from __future__ import annotations

import pytest
from django.utils import timezone

from evaluation import services
from evaluation.models import EvalRun
from projects.tests.factories import CharterFactory, ProjectFactory
from serving.services.endpoints import routing_threshold_suggest
from training.models import ModelVersion
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.django_db


def test_the_routing_threshold_is_the_lowest_confidence_reaching_the_charter_target(team, owner):
    project = ProjectFactory(team=team, owner=owner)
    CharterFactory(project=project, author=owner, version=1, confidence_threshold=0.6)  # accuracy target 0.85
    version = ModelVersion.objects.create(
        project=project, number=1, base_model=BaseModelFactory(), stage="production", created_by=owner
    )
    spec = services.eval_spec_create(
        project=project, user=owner, document={"cases": [{"input": "x", "expected": "y"}]}
    )
    curve = [
        {"threshold": 0.0, "coverage": 1.0, "accuracy": 0.7, "count": 100},
        {"threshold": 0.4, "coverage": 0.8, "accuracy": 0.86, "count": 80},
        {"threshold": 0.7, "coverage": 0.5, "accuracy": 0.95, "count": 50},
    ]
    assert routing_threshold_suggest(project=project, version=version) == 0.6  # no run yet: the charter's
    EvalRun.objects.create(
        project=project,
        spec=spec,
        model_version=version,
        created_by=owner,
        status="succeeded",
        finished_at=timezone.now(),
        coverage_curve=curve,
    )
    # A later failed run has no curve: the succeeded one still decides.
    EvalRun.objects.create(
        project=project,
        spec=spec,
        model_version=version,
        created_by=owner,
        status="failed",
        finished_at=timezone.now(),
    )
    assert routing_threshold_suggest(project=project, version=version) == 0.4
