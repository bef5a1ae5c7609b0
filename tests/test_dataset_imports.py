"""Large uploads off the web process: the request stores the file and answers 202 with a status URL; a
worker checks it under a lease (progress, success, failure that leaves nothing); small files keep the
immediate answer; tenancy, roles, the lease and the reaper."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import AuditEvent
from projects.choices import ImportStatus
from projects.models import Dataset, DatasetImport, DatasetVersion
from projects.services import imports
from projects.tests.factories import ProjectFactory, classification_rows, jsonl_bytes
from tests.worker import wait_until

INLINE_LIMIT = 1024  # bytes: every file in these tests above it goes to a worker


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")


@pytest.fixture
def off_web(settings):
    """Files over INLINE_LIMIT go to a worker; files already stored by earlier tests are left out."""
    settings.STUDIO_UPLOAD_INLINE_BYTES = INLINE_LIMIT
    _earlier.clear()
    _earlier.update(stored(settings.DATASETS_DIR) + stored(settings.UPLOADS_DIR))


def upload(api, project, content: bytes, filename="data.jsonl", **fields):
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return api.post("/api/v1/datasets/", {"project": project.pk, "file": file, **fields}, format="multipart")


_earlier: set[Path] = set()


def stored(folder) -> list[Path]:
    """The files in `folder` that this test stored."""
    folder = Path(folder)
    return sorted(path for path in folder.iterdir() if path not in _earlier) if folder.exists() else []


def invalid_at_the_end(valid_rows: int) -> bytes:
    """A file whose every row is valid but the last, whose output is missing."""
    rows = jsonl_bytes(classification_rows(valid_rows // 3))
    return rows + json.dumps({"input": "a question without its label"}).encode() + b"\n"


def nothing_stored() -> None:
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert stored(settings.DATASETS_DIR) == []
    assert stored(settings.UPLOADS_DIR) == []


# --- in the request ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_small_file_is_still_answered_at_once_with_its_version(api, project):
    response = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(12)))
    assert response.status_code == 201, response.content
    assert response.json()["row_count"] == 36
    assert DatasetImport.objects.count() == 0


@pytest.mark.django_db
def test_a_large_file_is_stored_and_answered_202_with_a_status_url(api, project, off_web):
    content = jsonl_bytes(classification_rows(20))
    response = upload(api.as_user(project.owner), project, content, filename="big.jsonl", name="Big")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"] == f"/api/v1/dataset-imports/{body['id']}/"
    assert body["status"] == "queued" and body["progress"] == 0 and body["error"] is None
    assert (body["size_bytes"], body["source_filename"], body["format"]) == (
        len(content),
        "big.jsonl",
        "jsonl",
    )
    assert body["page_url"] == f"/datasets/imports/{body['id']}/"
    # stored as it came, under a server-chosen name; nothing checked or versioned yet
    (staged,) = stored(settings.UPLOADS_DIR)
    assert staged.read_bytes() == content and "big" not in staged.name
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert AuditEvent.objects.filter(action="dataset_import.create", actor=project.owner).count() == 1
    assert api.get(body["url"]).json() == body


@pytest.mark.django_db
def test_what_needs_no_rows_is_still_refused_in_the_request(api, project, viewer, outsider, off_web):
    content = jsonl_bytes(classification_rows(20))
    refused = upload(api.as_user(viewer), project, content)
    assert refused.status_code == 403
    bad_format = upload(api.as_user(project.owner), project, content, format="xlsx")
    assert bad_format.status_code == 400 and "format" in bad_format.json()["error"]["details"]
    bad_card = upload(api.as_user(project.owner), project, content, lawful_basis="whim")
    assert bad_card.status_code == 400
    assert upload(api.as_user(outsider), project, content).status_code == 404
    assert DatasetImport.objects.count() == 0 and stored(settings.UPLOADS_DIR) == []


@pytest.mark.django_db
def test_imports_are_team_scoped_and_an_outsider_gets_the_404_of_a_missing_id(
    api, project, outsider, reviewer, off_web
):
    url = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()["url"]
    missing = api.as_user(outsider).get("/api/v1/dataset-imports/999999/")
    theirs = api.get(url)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/dataset-imports/").json()["results"] == []
    assert api.as_user(reviewer).get(url).status_code == 200


@pytest.mark.django_db
def test_the_import_page_follows_the_import_and_hides_it_from_outsiders(
    api, client, project, outsider, off_web
):
    record_id = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()["id"]
    client.force_login(project.owner)
    page = client.get(f"/datasets/imports/{record_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-import-url="/api/v1/dataset-imports/{record_id}/"' in html and "Queued" in html
    # the project page leads back to it while it is being checked
    hub = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="imports-in-progress"' in hub and f'href="/datasets/imports/{record_id}/"' in hub
    client.force_login(outsider)
    assert client.get(f"/datasets/imports/{record_id}/").status_code == 404


@pytest.mark.django_db
def test_the_import_list_uses_constant_queries(api, project, off_web, django_assert_max_num_queries):
    api.as_user(project.owner)
    upload(api, project, jsonl_bytes(classification_rows(20)))
    with django_assert_max_num_queries(10) as few:
        api.get("/api/v1/dataset-imports/")
    baseline = len(few)
    for _ in range(3):
        upload(api, project, jsonl_bytes(classification_rows(20)))
    with django_assert_max_num_queries(baseline):
        assert api.get("/api/v1/dataset-imports/").json()["count"] == 4
    assert api.get("/api/v1/dataset-imports/", {"project": project.pk}).json()["count"] == 4


# --- the worker's side, called in-process -------------------------------------------------------------


@pytest.mark.django_db
def test_a_checked_import_becomes_the_version_a_small_upload_would_have_made(api, project, off_web, settings):
    rows = classification_rows(30)
    body = upload(api.as_user(project.owner), project, jsonl_bytes(rows), name="Intents").json()
    version = imports.dataset_import_run(import_id=body["id"], worker="w1")
    assert version is not None
    done = api.get(body["url"]).json()
    assert done["status"] == "succeeded" and done["progress"] == 1
    assert done["dataset_version"] == version.pk and done["rows_read"] == 90
    assert done["bytes_read"] == done["size_bytes"] and done["finished_at"]
    assert (
        version.row_count == 90 and version.dataset.name == "Intents" and version.created_by == project.owner
    )
    assert version.rows_path.exists() and stored(settings.UPLOADS_DIR) == []
    # the same rows uploaded small give the same content address
    settings.STUDIO_UPLOAD_INLINE_BYTES = 10 * 1024 * 1024
    inline = upload(api, project, jsonl_bytes(rows), name="Inline").json()
    assert inline["sha256"] == version.sha256 and inline["split_counts"] == version.split_counts
    assert AuditEvent.objects.filter(action="dataset_import.succeeded").count() == 1


@pytest.mark.django_db
def test_a_new_version_of_a_dataset_goes_through_an_import_too(api, project, off_web, settings):
    settings.STUDIO_UPLOAD_INLINE_BYTES = 10 * 1024 * 1024
    first = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(12))).json()
    settings.STUDIO_UPLOAD_INLINE_BYTES = INLINE_LIMIT
    file = SimpleUploadedFile("v2.jsonl", jsonl_bytes(classification_rows(20)))
    body = api.post(
        "/api/v1/datasets/", {"dataset": first["dataset"], "file": file}, format="multipart"
    ).json()
    version = imports.dataset_import_run(import_id=body["id"], worker="w1")
    assert (version.number, version.parent_id, version.dataset_id) == (2, first["id"], first["dataset"])


@pytest.mark.django_db
def test_a_rejected_import_lists_each_error_and_leaves_nothing(api, project, off_web):
    body = upload(api.as_user(project.owner), project, invalid_at_the_end(60)).json()
    assert imports.dataset_import_run(import_id=body["id"], worker="w1") is None
    failed = api.get(body["url"]).json()
    assert failed["status"] == "failed" and failed["dataset_version"] is None
    error = failed["error"]
    assert error["code"] == "dataset_invalid" and "line 61" in error["message"]
    assert [(e["code"], e["line"], e["field"]) for e in error["errors"]] == [("missing_field", 61, "output")]
    nothing_stored()
    assert AuditEvent.objects.filter(action="dataset_import.failed").count() == 1


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_import_with_a_plain_reason_and_leaves_nothing(api, project, off_web):
    body = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()
    DatasetImport.objects.filter(pk=body["id"]).update(source_format="not-a-format")
    imports.dataset_import_run(import_id=body["id"], worker="w1")
    failed = api.get(body["url"]).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "import_failed"
    assert "Traceback" not in failed["error"]["message"]
    nothing_stored()


def _taken_over(import_id: int) -> None:
    """Worker "a" claims the import, its lease lapses (as if it hung), and worker "b" takes it over."""
    assert imports.dataset_import_claim(import_id=import_id, worker="a")
    assert imports.dataset_import_claim(import_id=import_id, worker="b") is None  # a's lease is live
    DatasetImport.objects.filter(pk=import_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert imports.dataset_import_claim(import_id=import_id, worker="b")


@pytest.mark.django_db
def test_a_worker_whose_import_was_taken_over_writes_nothing(api, project, off_web):
    body = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()
    _taken_over(body["id"])
    assert not imports.dataset_import_heartbeat(import_id=body["id"], worker="a", rows_read=5, bytes_read=9)
    assert not imports._fail(body["id"], guard=imports.leases.held_by("a"), code="x", message="stale")
    record = DatasetImport.objects.get(pk=body["id"])
    assert (record.status, record.lease_owner, record.attempt, record.rows_read) == ("running", "b", 2, 0)
    assert record.staged_path.exists()  # b still needs it


@pytest.mark.django_db
def test_a_worker_that_loses_the_lease_during_the_check_stores_no_version(api, project, off_web, monkeypatch):
    body = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()
    real_ingest = imports.upload_ingest

    def taken_over_meanwhile(**kwargs):
        DatasetImport.objects.filter(pk=body["id"]).update(lease_expires_at=timezone.now())
        assert imports.dataset_import_claim(import_id=body["id"], worker="b")
        return real_ingest(**kwargs)

    monkeypatch.setattr(imports, "upload_ingest", taken_over_meanwhile)
    assert imports.dataset_import_run(import_id=body["id"], worker="a") is None
    record = DatasetImport.objects.get(pk=body["id"])
    assert (record.status, record.lease_owner, record.dataset_version) == ("running", "b", None)
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert stored(settings.DATASETS_DIR) == [] and record.staged_path.exists()
    assert not AuditEvent.objects.filter(action__startswith="dataset_version").exists()


@pytest.mark.django_db
def test_the_reaper_requeues_a_lost_import_and_fails_it_at_the_attempt_cap(api, project, off_web, settings):
    settings.STUDIO_IMPORT_MAX_ATTEMPTS = 2
    body = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()
    lapse = {"lease_expires_at": timezone.now() - timedelta(seconds=1)}
    assert imports.dataset_import_claim(import_id=body["id"], worker="a")
    assert imports.dataset_imports_reap_stale() == []  # the lease is live
    DatasetImport.objects.filter(pk=body["id"]).update(**lapse)
    assert imports.dataset_imports_reap_stale() == [body["id"]]
    assert DatasetImport.objects.get(pk=body["id"]).status == ImportStatus.QUEUED

    assert imports.dataset_import_claim(import_id=body["id"], worker="b")
    DatasetImport.objects.filter(pk=body["id"]).update(**lapse)
    assert imports.dataset_imports_reap_stale() == []
    failed = api.get(body["url"]).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "worker_lost"
    assert "lost 2 times (limit 2)" in failed["error"]["message"]
    nothing_stored()


# --- through a real worker ----------------------------------------------------------------------------

FAST_WORKER = {
    "STUDIO_PROGRESS_INTERVAL_SECONDS": "0.1",
    "STUDIO_REAPER_INTERVAL_SECONDS": "1",
}


def follow(api, url: str, *, timeout: float) -> list[dict]:
    """Poll the status URL as the page does until the import is settled; every answer seen, in order."""
    seen: list[dict] = []

    def settled():
        seen.append(api.get(url).json())
        return seen[-1]["status"] in ("succeeded", "failed")

    wait_until(settled, timeout=timeout, interval=0.05, message="the import to settle")
    return seen


@pytest.mark.worker
def test_a_worker_checks_a_large_upload_with_progress_the_api_shows(start_worker, api, project, off_web):
    start_worker("default", **FAST_WORKER)
    rows = classification_rows(40_000)  # 120,000 rows, several seconds of checking
    response = upload(api.as_user(project.owner), project, jsonl_bytes(rows), filename="large.jsonl")
    assert response.status_code == 202, response.content
    seen = follow(api, response.json()["url"], timeout=240)
    done = seen[-1]
    assert done["status"] == "succeeded", done["error"]
    version = DatasetVersion.objects.get(pk=done["dataset_version"])
    assert version.row_count == 120_000 and done["rows_read"] == 120_000
    # the check was followed while it ran: rows and bytes read grew, short of the whole file
    running = [answer for answer in seen if answer["status"] == "running"]
    partial = [answer for answer in running if 0 < answer["rows_read"] < 120_000]
    assert partial, [(a["status"], a["rows_read"]) for a in seen]
    read = [answer["bytes_read"] for answer in seen]
    assert read == sorted(read) and done["progress"] == 1
    assert stored(settings.UPLOADS_DIR) == []


@pytest.mark.worker
def test_a_worker_rejects_a_large_upload_and_leaves_nothing(start_worker, api, project, off_web):
    start_worker("default", **FAST_WORKER)
    response = upload(api.as_user(project.owner), project, invalid_at_the_end(30_000))
    assert response.status_code == 202, response.content
    done = follow(api, response.json()["url"], timeout=240)[-1]
    assert done["status"] == "failed"
    assert [(e["line"], e["field"]) for e in done["error"]["errors"]] == [(30_001, "output")]
    nothing_stored()


@pytest.mark.worker
def test_an_import_whose_worker_is_killed_is_requeued_and_finished_by_another(
    start_worker, api, project, off_web
):
    lease = {**FAST_WORKER, "STUDIO_IMPORT_LEASE_SECONDS": "3"}
    first = start_worker("default", **lease)
    response = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(40_000)))
    url = response.json()["url"]
    wait_until(
        lambda: (lambda body: body["status"] == "running" and body["rows_read"] > 0)(api.get(url).json()),
        timeout=120,
        interval=0.05,
        message="the first worker to start reading",
    )
    first.kill()  # SIGKILL mid-check, like an OOM kill or a lost machine
    start_worker("default", **lease)
    done = follow(api, url, timeout=240)[-1]
    assert done["status"] == "succeeded", done["error"]
    assert done["attempt"] == 2 and done["rows_read"] == 120_000
    assert DatasetVersion.objects.get().row_count == 120_000  # one version, from the second worker
    assert stored(settings.UPLOADS_DIR) == []
