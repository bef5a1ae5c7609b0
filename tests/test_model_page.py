"""The model page says what a model is worth and lets anyone in the team try it: validation score with its
size and a small-sample caveat, the baseline on the same examples and the lift, per-label results, the
baseline named as such (fine-tuned versions count from v1), and a "Try it" answer from a worker that
nothing stores."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from projects.tests.factories import classification_rows
from studio.celery import app as celery_app
from tests.test_model_export import LABELS, project, register, tiny_path, trained  # noqa: F401
from tests.test_training_pages import upload
from training import services
from training.models import ModelVersion
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.django_db


def test_the_baseline_is_named_as_such_and_fine_tuned_versions_count_from_v1(project, owner, settings):  # noqa: F811
    version = upload(project, owner, classification_rows(12))
    base_model = BaseModelFactory()
    baseline = services.baseline_ensure(
        project=project, dataset_version=version, base_model=base_model, user=owner
    )
    first = services.model_version_register(project=project, user=owner, base_model=base_model)
    assert (baseline.number, baseline.label) == (0, "Baseline")
    assert (first.number, first.label) == (1, "v1")


@pytest.fixture
def registered(project, owner, tiny_path, trained, settings):  # noqa: F811
    """A fine-tuned version of the tiny model with a closing assessment: 2 of 3 validation answers right."""
    return register(project, owner, BaseModelFactory(source=str(tiny_path)), trained, settings)


def test_the_model_page_shows_score_size_caveat_baseline_lift_and_per_label(
    client,
    owner,
    project,  # noqa: F811
    registered,
):
    version = registered
    client.force_login(owner)
    body = client.get(reverse("training:model_detail", args=[version.pk])).content.decode()
    worth = body[body.index('data-testid="model-worth"') :]
    assert 'data-testid="validation-score">66.7%' in worth and "on 3 examples" in worth
    assert "33.3%" in worth and 'data-testid="lift">+33.3 points' in worth
    assert "Only 3 validation examples" in worth and "33.3 points" in worth
    per_label = worth[worth.index('data-testid="per-label"') :]
    for label in LABELS:
        assert f'<td class="font-monospace">{label}</td>' in per_label
    assert 'data-testid="try-it"' in body and "js/model_try.js" in body
    assert "Next step: Evaluate it before it serves anyone" in body
    next_step = body[body.index("Next step: Evaluate it") :]
    evaluate = reverse("evaluation:project_evaluation", args=[project.pk]) + f"?version={version.pk}"
    assert f'href="{evaluate}"' in next_step and f"Evaluate {version.label}" in next_step


@pytest.fixture
def eager_celery(monkeypatch):
    """Try-it tasks answered in this process, their results kept in the studio's result backend.

    Celery copies `task_store_eager_result` onto a task class when the app first binds it, so once any
    earlier test has touched the task a config change alone no longer reaches it: set it on the task."""
    from training.tasks import model_version_try

    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    monkeypatch.setattr(model_version_try, "store_eager_result", True)
    assert model_version_try._get_app() is celery_app


def test_a_viewer_tries_the_model_and_nothing_is_stored(
    client,
    owner,
    viewer,
    outsider,
    project,  # noqa: F811
    tiny_path,  # noqa: F811
    trained,  # noqa: F811
    settings,
    eager_celery,
):
    version = register(project, owner, BaseModelFactory(source=str(tiny_path)), trained, settings)

    def stored():
        # Sign-ins, and the catalog noting the base weights it cached, are not what a user typed.
        events = AuditEvent.objects.exclude(action__startswith="auth.").exclude(action="base_model.cache")
        return events.count(), ModelVersion.objects.count()

    before = stored()
    client.force_login(viewer)
    url = reverse("training:model_try", args=[version.pk])
    refused = client.post(url, {"input": "   "}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "Type an input first."

    started = client.post(url, {"input": "I was charged twice for order 7"}, HTTP_ACCEPT="application/json")
    assert started.status_code == 202
    poll_url = started.json()["poll_url"]
    answer = client.get(poll_url).json()
    assert answer["status"] == "done" and answer["output"] in LABELS and 0 < answer["confidence"] <= 1
    assert client.get(poll_url).status_code == 404  # read once, then forgotten

    again = client.post(url, {"input": "Where is my parcel?"}, HTTP_ACCEPT="application/json").json()
    client.force_login(owner)
    assert client.get(again["poll_url"]).status_code == 404  # another person's answer
    client.force_login(outsider)
    assert client.post(url, {"input": "hello"}).status_code == 404
    assert stored() == before


def test_every_page_shows_one_validation_figure_the_closing_assessments(
    client,
    owner,
    project,  # noqa: F811
    registered,
):
    """The last check in training decodes greedily and can differ from the closing assessment (labels
    scored whole, as the endpoint answers) on a few examples; lists and headlines show the assessment's."""
    version = registered
    version.metrics = {**version.metrics, "accuracy": 0.25}
    version.save(update_fields=["metrics"])
    client.force_login(owner)
    for url in (reverse("training:model_list"), reverse("projects:project_detail", args=[project.pk])):
        page = client.get(url).content.decode()
        assert "0.667" in page and "0.250" not in page, url
    model_page = client.get(reverse("training:model_detail", args=[version.pk])).content.decode()
    assert 'data-testid="validation-score">66.7%' in model_page
    assert "Accuracy at the last check in training" in model_page and "0.2500" in model_page
