"""Forms say what they need before submitting: the charter marks what the choices made require, the
new-job form shows the numbers each preset resolves to, and `quick` is really quicker."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows
from tests.test_training_pages import upload
from training.engine.config import resolve_preset
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.django_db


def test_the_charter_form_marks_required_fields_for_the_choices_made(client, team, owner):
    project = ProjectFactory(team=team, owner=owner)
    client.force_login(owner)
    body = client.get(reverse("projects:charter_edit", args=[project.pk])).content.decode()
    legend = body[
        body.index("Data classes allowed") : body.index("</legend>", body.index("Data classes allowed"))
    ]
    assert "(required)" in legend and "Tick at least one" in body
    threshold = body[body.index('for="id_confidence_threshold"') :]
    threshold = threshold[: threshold.index("</label>")]
    assert 'data-required-when="automation=human_review"' in threshold
    assert 'data-required-for="confidence_threshold"' in threshold

    response = client.post(
        reverse("projects:charter_edit", args=[project.pk]),
        {"problem_statement": "x", "business_metric": "y", "automation": "human_review", "residency": "any"},
    )
    errors = response.context["form"].errors
    assert "confidence_threshold" in errors and "data_classes" in errors


def test_the_job_form_shows_quick_with_fewer_epochs_than_balanced_for_the_chosen_version(
    client, team, owner, product_owner
):
    project = ProjectFactory(team=team, owner=owner)
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    version = upload(project, owner, classification_rows(12))
    BaseModelFactory()
    client.force_login(product_owner)
    response = client.get(reverse("training:job_create"), {"project": project.pk})
    resolved = response.context["preset_settings"]["versions"][str(version.pk)]
    n_train = version.split_counts["train"]
    assert (
        resolved["quick"]["epochs"]
        == resolve_preset("quick", n_train_examples=n_train, device_type="cpu").epochs
    )
    assert resolved["quick"]["epochs"] < resolved["balanced"]["epochs"] < resolved["thorough"]["epochs"]


def test_the_json_schema_field_appears_only_for_extraction_projects(client, team, owner):
    client.force_login(owner)
    body = client.get(reverse("projects:project_create")).content.decode()
    field = body[: body.index('for="id_output_schema"')]
    assert field[field.rindex("<div") :].count('data-shown-when="task_type=extraction"') == 1


def test_a_refused_threshold_says_why_without_also_saying_it_is_missing(client, team, owner):
    project = ProjectFactory(team=team, owner=owner)
    client.force_login(owner)
    response = client.post(
        reverse("projects:charter_edit", args=[project.pk]),
        {"problem": "Route tickets", "automation": "human_review", "confidence_threshold": "1.5"},
    )
    errors = response.context["form"].errors["confidence_threshold"]
    assert errors == ["Ensure this value is less than or equal to 1."]


def test_risk_acceptance_fields_are_asked_for_with_the_tick_and_refused_together_beside_it():
    from governance.forms import PromotionRequestForm

    form = PromotionRequestForm()
    for name in ("risk_reason", "risk_until"):
        assert form.fields[name].required_when == form.fields[name].shown_when == "accept_risk=on"
    refused = PromotionRequestForm({"target_stage": "production", "accept_risk": "on"})
    assert not refused.is_valid()
    assert set(refused.errors) == {"risk_reason", "risk_until"}
    assert PromotionRequestForm({"target_stage": "production"}).is_valid()
