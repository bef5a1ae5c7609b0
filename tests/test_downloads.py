"""Data that policy blocks stays blocked: a dataset version holding personal data the charter does not
allow leaves the studio only for those who may redact it; every download is audited with its checksum."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

pytestmark = pytest.mark.django_db
EMAIL, PHONE = "jane.doe@acme-mail.com", "+44 20 7946 0958"


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


@pytest.fixture
def blocked_version(api, project):
    rows = classification_rows(12)
    rows[3] = {"input": f"Please reply to {EMAIL} or call {PHONE}.", "output": "billing"}
    file = SimpleUploadedFile("data.jsonl", jsonl_bytes(rows))
    body = api.as_user(project.owner).post(
        "/api/v1/datasets/", {"project": project.pk, "file": file}, format="multipart"
    )
    assert body.status_code == 201, body.content
    return body.json()


def download(api, user, version_id: int, export: str = "jsonl"):
    return api.as_user(user).get(f"/api/v1/dataset-versions/{version_id}/download/", {"export": export})


def test_a_viewer_cannot_download_personal_data_the_charter_does_not_allow(api, viewer, blocked_version):
    for export in ("jsonl", "csv"):
        refused = download(api, viewer, blocked_version["id"], export)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "download_blocked_by_policy"
        assert "personal data" in error["message"] and "charter does not allow" in error["message"]
        assert "right to redact" in error["message"]
        assert EMAIL not in refused.content.decode()
    assert not AuditEvent.objects.filter(action="dataset_version.download").exists()


@pytest.mark.parametrize("role", ["owner", "product_owner", "ml_engineer"])
def test_those_who_may_redact_download_it_and_each_download_is_audited(
    api, member_by_role, role, blocked_version
):
    user = member_by_role[role]
    response = download(api, user, blocked_version["id"])
    assert response.status_code == 200
    sent = b"".join(response.streaming_content)
    assert EMAIL.encode() in sent
    event = AuditEvent.objects.get(action="dataset_version.download")
    assert event.actor == user and event.target_id == str(blocked_version["id"])
    assert event.payload["sha256"] == hashlib.sha256(sent).hexdigest() and event.payload["size"] == len(sent)
    assert event.payload["rows_sha256"] == blocked_version["sha256"]
    assert event.payload["personal_data_not_allowed"] == ["personal"]


def test_the_redacted_version_and_allowed_data_download_for_every_member(
    api, owner, viewer, project, blocked_version
):
    redacted = api.as_user(owner).post(f"/api/v1/dataset-versions/{blocked_version['id']}/redact/").json()
    response = download(api, viewer, redacted["id"], "csv")
    assert response.status_code == 200
    sent = b"".join(response.streaming_content)
    assert EMAIL.encode() not in sent and b"<EMAIL>" in sent
    event = AuditEvent.objects.get(action="dataset_version.download", actor=viewer)
    assert event.payload["export"] == "csv" and event.payload["sha256"] == hashlib.sha256(sent).hexdigest()

    CharterFactory(project=project, author=owner, version=2, data_classes=["internal", "personal"])
    assert download(api, viewer, blocked_version["id"]).status_code == 200


def test_an_outsider_gets_404_not_the_reason(api, outsider, blocked_version):
    response = download(api, outsider, blocked_version["id"])
    assert response.status_code == 404 and "personal" not in response.content.decode()


def test_the_page_tells_a_viewer_why_and_the_download_link_refuses(client, viewer, blocked_version):
    client.force_login(viewer)
    page = client.get(
        reverse("projects:dataset_version_detail", args=[blocked_version["id"]])
    ).content.decode()
    assert "right to redact" in page
    assert reverse("projects:dataset_version_download", args=[blocked_version["id"], "jsonl"]) not in page
    refused = client.get(reverse("projects:dataset_version_download", args=[blocked_version["id"], "jsonl"]))
    assert refused.status_code == 403 and EMAIL not in refused.content.decode()
