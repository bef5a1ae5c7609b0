"""The browser side of "every input answered": forms and query strings get a message, never a 500, and a
refused form saves nothing. (The API is walked field by field in test_bad_input_generated.py.)"""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from projects import services as project_services
from projects.models import Charter, Dataset, DatasetVersion, PersonalAccessToken, Project
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

pytestmark = pytest.mark.django_db

DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


@pytest.fixture
def version(project, owner):
    rows = io.BytesIO(jsonl_bytes(classification_rows(12)))
    return project_services.dataset_upload(project=project, user=owner, file=rows, filename="i.jsonl")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    "query", ["base=²", "head=١٢", "base=99999999999999999999999", "head=-1", "base=%00"]
)
def test_charter_history_with_a_version_that_is_not_a_number_is_a_404(signed_in, project, query):
    url = reverse("projects:charter_history", args=[project.pk])
    assert signed_in.get(f"{url}?{query}").status_code == 404
    assert signed_in.get(f"{url}?base=1").status_code == 200


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (DEEP_JSON, "nested deeper than"),
        ('{"type": "object", "description": "\\ud800"}', "surrogate"),
        ('{"type": "object", "maximum": 1e400}', "too large"),
    ],
)
def test_project_form_refuses_json_past_the_bounds_and_creates_nothing(signed_in, team, schema, reason):
    response = signed_in.post(
        reverse("projects:project_create"),
        {
            "name": "Invoices",
            "task_type": "extraction",
            "instructions": "Extract the total.",
            "output_schema": schema,
        },
    )
    assert response.status_code == 200
    assert reason in str(response.context["form"].errors["output_schema"])
    assert not Project.objects.filter(name="Invoices").exists()


def test_data_card_form_refuses_a_retention_no_date_can_hold(signed_in, version):
    dataset = version.dataset
    response = signed_in.post(
        reverse("projects:dataset_card_edit", args=[dataset.pk]),
        {"lawful_basis": "not_personal", "retention_days": "10000000"},
        follow=True,
    )
    assert response.status_code == 200
    assert any("36500" in message for message in messages_of(response))
    assert Dataset.objects.get(pk=dataset.pk).retention_days is None
    assert signed_in.get(reverse("projects:project_detail", args=[dataset.project_id])).status_code == 200


def test_resplit_form_refuses_a_seed_the_version_cannot_store(signed_in, version):
    versions = DatasetVersion.objects.count()
    response = signed_in.post(
        reverse("projects:dataset_version_resplit", args=[version.pk]), {"seed": str(10**30)}, follow=True
    )
    assert any("2147483647" in message for message in messages_of(response))
    assert DatasetVersion.objects.count() == versions


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_token_form_refuses_a_date_out_of_range(signed_in, owner, expires_at):
    response = signed_in.post(reverse("projects:token_list"), {"name": "CI", "expires_at": expires_at})
    assert response.status_code == 200
    assert "out of range" in str(response.context["form"].errors["expires_at"])
    assert not PersonalAccessToken.objects.filter(user=owner).exists()


def test_charter_form_refuses_success_measures_beyond_the_bound(signed_in, project):
    events = AuditEvent.objects.count()
    response = signed_in.post(
        reverse("projects:charter_edit", args=[project.pk]),
        {
            "problem_statement": "Route e-mails.",
            "business_metric": "Time to first response",
            "data_classes": ["internal"],
            "residency": "any",
            "automation": "full",
            "release_cadence": "on_demand",
            "measures-TOTAL_FORMS": "1",
            "measures-INITIAL_FORMS": "0",
            "measures-0-metric": "accuracy",
            "measures-0-baseline": "0",
            "measures-0-target": "1e308",
        },
    )
    assert response.status_code == 200
    assert "less than or equal to" in str(response.context["measures"].errors)
    assert Charter.objects.filter(project=project).count() == 1
    assert AuditEvent.objects.count() == events


def test_inspecting_a_file_whose_first_line_nests_without_end_answers(signed_in, project):
    response = signed_in.generic(
        "POST",
        reverse("projects:dataset_inspect", args=[project.pk]) + "?filename=rows.jsonl",
        ('{"input": ' + DEEP_JSON[:60_000] + "}\n").encode(),
        content_type="application/octet-stream",
    )
    assert response.status_code == 200
    assert response.json()["format"] == "jsonl"
