"""The path from data to model is visible: the project's checklist follows real conditions (a dataset
version that can be trained on, a fine-tuned model version), blocked data is a warning with its fix, the
project page lists jobs and model versions, and every page ends with its one next step."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from projects.journey import JourneyStep, StepState, journey_steps, register_step
from projects.models import DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows
from tests.test_training_pages import make_job, succeeded_job, text, upload
from training.choices import JobStatus
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def pii_rows():
    rows = classification_rows(12)
    rows[2] = {"input": "Send the refund to maria.lopez@fastpost.net today", "output": "billing"}
    return rows


def step_html(body: str, key: str) -> str:
    start = body.index(f'data-step="{key}"')
    return body[start : body.index("</li>", start)]


def test_a_blocked_version_is_a_warning_with_redact_right_there_and_does_not_tick_the_dataset(
    client, project, owner
):
    blocked = upload(project, owner, pii_rows(), name="Raw mail")
    client.force_login(owner)
    url = reverse("projects:project_detail", args=[project.pk])
    body = text(client.get(url))
    dataset_step = step_html(body, "dataset")
    assert 'data-done="false"' in dataset_step
    assert "none ready to train on" in dataset_step
    assert "Raw mail v1 is blocked" in dataset_step and "does not allow" in dataset_step
    redact_url = reverse("projects:dataset_version_redact", args=[blocked.pk])
    assert f'action="{redact_url}"' in dataset_step and "Redact personal data" in dataset_step
    assert 'data-testid="blocked-dataset"' in body and 'data-status="blocked"' in body
    assert "text-bg-warning" in body  # blocked reads as a warning, not as a neutral grey

    client.post(redact_url)
    body = text(client.get(url))
    redacted = DatasetVersion.objects.get(parent=blocked)
    assert 'data-step="dataset" data-done="true"' in body
    assert 'data-testid="blocked-dataset"' not in body
    model_step = step_html(body, "model")
    train_url = f"{reverse('training:job_create')}?project={project.pk}&amp;dataset_version={redacted.pk}"
    assert train_url in model_step and "Train a model on Raw mail v2" in model_step
    # The journey's order: the eval spec (what "good enough" means) comes before training.
    assert 'data-testid="next-step"' in body and "Next step: Write the eval spec" in body

    # The blocked version now leads to its redacted one, and is not redacted a second time.
    version_page = text(client.get(reverse("projects:dataset_version_detail", args=[blocked.pk])))
    redacted_url = reverse("projects:dataset_version_detail", args=[redacted.pk])
    assert f'href="{redacted_url}"' in version_page and "Open v2, its redacted version" in version_page
    assert f'action="{redact_url}"' not in version_page
    client.post(redact_url)
    assert DatasetVersion.objects.filter(parent=blocked).count() == 1


def test_the_checklist_reaches_model_only_with_a_fine_tuned_version_and_the_page_lists_jobs_and_models(
    client, project, owner, settings
):
    version = upload(project, owner, classification_rows(12))
    base_model = BaseModelFactory()
    client.force_login(owner)
    url = reverse("projects:project_detail", args=[project.pk])
    body = text(client.get(url))
    assert "2 of 7 steps done" in body
    assert 'data-step="model" data-done="false"' in body
    assert "No training job yet" in body

    job = make_job(project, version, base_model, status=JobStatus.RUNNING, step=30, total_steps=120)
    body = text(client.get(url))
    assert f"Job #{job.pk} running, 25%" in step_html(body, "model")
    assert f"Follow job #{job.pk}" in body

    job.delete()
    done_job, model = succeeded_job(project, version, base_model, settings)
    body = text(client.get(url))
    assert "3 of 7 steps done" in body
    model_step = step_html(body, "model")
    assert 'data-done="true"' in model_step and f"v{model.number} · accuracy 92%" in model_step
    assert reverse("training:model_detail", args=[model.pk]) in model_step
    jobs = body[body.index('data-testid="project-jobs"') :]
    assert f'href="{reverse("training:job_detail", args=[done_job.pk])}"' in jobs
    models = body[body.index('data-testid="project-models"') :]
    assert f'href="{reverse("training:model_detail", args=[model.pk])}"' in models


def test_a_viewer_sees_the_journey_without_actions_they_cannot_take(client, project, owner, viewer):
    upload(project, owner, pii_rows(), name="Raw mail")
    client.force_login(viewer)
    body = text(client.get(reverse("projects:project_detail", args=[project.pk])))
    assert "is blocked" in body
    assert "Redact personal data" not in body and "Train a model" not in body


def test_the_dataset_page_offers_training_on_a_ready_version_preselected_in_the_job_form(
    client, project, owner, product_owner
):
    version = upload(project, owner, classification_rows(12))
    other = upload(project, owner, classification_rows(12), name="Second")
    BaseModelFactory()
    client.force_login(product_owner)
    body = text(client.get(reverse("projects:dataset_version_detail", args=[version.pk])))
    train_url = f"{reverse('training:job_create')}?project={project.pk}&amp;dataset_version={version.pk}"
    assert 'data-testid="train-on-version"' in body and train_url in body
    assert "Next step: Train a model on this version" in body

    form = text(client.get(train_url.replace("&amp;", "&")))
    assert f'<option value="{version.pk}" selected>' in form
    assert f'<option value="{other.pk}">' in form


def test_a_blocked_version_page_ends_with_its_fix_not_with_training(client, project, owner):
    blocked = upload(project, owner, pii_rows(), name="Raw mail")
    client.force_login(owner)
    body = text(client.get(reverse("projects:dataset_version_detail", args=[blocked.pk])))
    assert 'data-testid="train-on-version"' not in body
    assert "Next step: Redact personal data" in body
    assert "reserved for documentation and tests" in body


def test_apps_further_along_add_their_step_by_key(client, project, owner):
    placeholder = next(step for step in journey_steps() if step.key == "endpoint")
    try:
        register_step(
            JourneyStep(
                key="endpoint",
                label="Endpoint",
                text=placeholder.text,
                order=placeholder.order,
                state=lambda facts: StepState(done=False, detail="Serving soon"),
            )
        )
        client.force_login(owner)
        body = text(client.get(reverse("projects:project_detail", args=[project.pk])))
        assert "Serving soon" in step_html(body, "endpoint")
    finally:
        register_step(placeholder)


def test_team_and_token_pages_have_one_heading_with_text(client, owner):
    client.force_login(owner)
    for url in (reverse("projects:team_detail"), reverse("projects:token_list")):
        body = text(client.get(url))
        headings = re.findall(r"<h1[^>]*>(.*?)</h1>", body, re.S)
        assert len(headings) == 1 and headings[0].strip(), (url, headings)


def test_the_admin_pages_name_the_studio_icon(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    client.force_login(admin)
    body = text(client.get(reverse("admin:index")))
    assert 'rel="icon" href="/static/img/favicon.svg"' in body
