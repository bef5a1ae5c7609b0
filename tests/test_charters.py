"""Charters over the API: every edit is a new audited version; any two versions can be compared."""

import pytest

from audit.models import AuditEvent
from projects.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

CHARTER = {
    "problem_statement": "Agents spend 30% of their time routing e-mails.",
    "business_metric": "Median time to first response",
    "data_classes": ["internal"],
    "automation": "human_review",
    "confidence_threshold": 0.8,
    "success_measures": [{"metric": "accuracy", "baseline": 0.6, "target": 0.9}],
}


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, owner=owner)


def test_editing_makes_a_new_version_and_the_diff_names_what_changed(api, project):
    api.as_user(project.owner)
    first = api.post("/api/v1/charters/", {"project": project.pk, **CHARTER}, format="json")
    assert first.status_code == 201, first.content
    second = api.post(
        "/api/v1/charters/",
        {"project": project.pk, **CHARTER, "data_classes": ["internal", "personal"], "change_note": "PII ok"},
        format="json",
    ).json()
    assert (first.json()["version"], second["version"]) == (1, 2)
    assert api.get(f"/api/v1/charters/{first.json()['id']}/").json()["data_classes"] == ["internal"]
    diff = api.get(f"/api/v1/charters/{second['id']}/diff/").json()
    assert diff["base"] == 1 and diff["head"] == 2
    assert [c["field"] for c in diff["changes"]] == ["data_classes"]
    assert diff["changes"][0]["after"] == "Internal, Personal data"
    events = AuditEvent.objects.filter(action="charter.create_version").order_by("id")
    assert [e.payload["version"] for e in events] == [1, 2]
    assert events[1].payload["changed"] == ["data_classes"]


def test_charter_input_errors_name_the_field(api, project):
    api.as_user(project.owner)
    bad_target = {**CHARTER, "success_measures": [{"metric": "accuracy", "baseline": 0.9, "target": 0.6}]}
    response = api.post("/api/v1/charters/", {"project": project.pk, **bad_target}, format="json")
    assert response.status_code == 400
    assert "success_measures.0" in response.json()["error"]["details"]
    no_threshold = {**CHARTER, "confidence_threshold": None}
    response = api.post("/api/v1/charters/", {"project": project.pk, **no_threshold}, format="json")
    assert "confidence_threshold" in response.json()["error"]["details"]
    assert not project.charters.exists()


def test_viewers_cannot_edit_and_outsiders_cannot_see_charters(api, project, viewer, outsider):
    assert (
        api.as_user(viewer)
        .post("/api/v1/charters/", {"project": project.pk, **CHARTER}, format="json")
        .status_code
        == 403
    )
    charter = (
        api.as_user(project.owner)
        .post("/api/v1/charters/", {"project": project.pk, **CHARTER}, format="json")
        .json()
    )
    api.as_user(outsider)
    assert api.get(f"/api/v1/charters/{charter['id']}/").status_code == 404
    assert api.get(f"/api/v1/charters/{charter['id']}/diff/").status_code == 404
    assert api.post("/api/v1/charters/", {"project": project.pk, **CHARTER}, format="json").status_code == 404
