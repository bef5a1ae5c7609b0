"""Faults, caused for real on this machine: what the user sees, that no job is left stuck, that no partial
rows or files stay behind, and that the studio recovers without anyone repairing it by hand.

Covered here:
- the data dir's stores made read-only (chmod) under an upload, in the request and on the worker;

Covered elsewhere (not repeated here):
- a training worker SIGKILLed mid-job: `tests/test_training.py::
  test_a_killed_worker_is_replaced_and_the_job_resumes_from_its_checkpoint` (resumed from its checkpoint
  by a new worker) and `::test_past_the_attempt_cap_a_lost_job_fails_with_the_reason`;
- a dataset import's worker SIGKILLed mid-check: `tests/test_dataset_imports.py::
  test_an_import_whose_worker_is_killed_is_requeued_and_finished_by_another`;
- an evaluation worker lost: `evaluation/tests/test_runs_lifecycle.py`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Dataset, DatasetImport, DatasetVersion
from projects.services import imports
from projects.tests.factories import ProjectFactory, classification_rows, jsonl_bytes

pytestmark = pytest.mark.worker


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")


def upload(api, project, content: bytes, filename="data.jsonl"):
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return api.post("/api/v1/datasets/", {"project": project.pk, "file": file}, format="multipart")


def files_in(folder) -> set[Path]:
    """Every file under `folder`, hidden temporary ones included."""
    folder = Path(folder)
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


def stored_files() -> set[Path]:
    """Every file of the dataset and upload stores, hidden temporary ones included."""
    return files_in(settings.DATASETS_DIR) | files_in(settings.UPLOADS_DIR)


# --- the data dir made read-only ------------------------------------------------------------------

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


@contextlib.contextmanager
def _as_a_service_account():
    """Root ignores file modes: for root, drop the capabilities that override them from this thread's
    effective set (Linux capabilities are per thread, the permitted set keeps them for the restore), so a
    chmod binds the studio's code as it binds the unprivileged account it runs as in production."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    assert libc.capget(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    saved = data[0].effective
    data[0].effective &= ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH) | (1 << _CAP_FOWNER))
    assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())


@contextlib.contextmanager
def read_only(*folders):
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder).chmod(0o555)
    try:
        with _as_a_service_account():
            yield
    finally:
        for folder in folders:
            Path(folder).chmod(0o755)


@pytest.mark.django_db
def test_a_read_only_data_dir_refuses_an_upload_clearly_and_keeps_nothing(api, project, settings):
    before = stored_files()
    content = jsonl_bytes(classification_rows(12))
    api.as_user(project.owner)
    with read_only(settings.DATASETS_DIR):
        refused = upload(api, project, content)
    assert refused.status_code == 503, refused.content
    error = refused.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "nothing was stored" in error["message"].lower()
    assert refused["Retry-After"]
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert stored_files() == before

    # the folder writable again: the same upload goes through, nothing to clean up first
    stored = upload(api, project, content)
    assert stored.status_code == 201, stored.content
    assert DatasetVersion.objects.get().row_count == 36


@pytest.mark.django_db
def test_a_large_upload_whose_store_turns_read_only_before_its_check_fails_clearly_and_keeps_nothing(
    api, project, settings
):
    settings.STUDIO_UPLOAD_INLINE_BYTES = 1024  # the file goes through an import, checked by a worker
    before = stored_files()
    api.as_user(project.owner)
    with read_only(settings.UPLOADS_DIR):  # where the request stores the file for its worker
        refused = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_unavailable"
    assert DatasetImport.objects.count() == 0 and stored_files() == before

    accepted = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert accepted.status_code == 202, accepted.content
    url = accepted.json()["url"]
    staged = DatasetImport.objects.get().staged_path
    assert staged.exists()
    with read_only(settings.DATASETS_DIR):  # the disk went read-only between the upload and its check
        assert imports.dataset_import_run(import_id=accepted.json()["id"], worker="w1") is None
    failed = api.get(url).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "storage_unavailable"
    assert "nothing was stored" in failed["error"]["message"].lower()
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert stored_files() == before and not staged.exists()

    again = upload(api, project, jsonl_bytes(classification_rows(20)))
    assert imports.dataset_import_run(import_id=again.json()["id"], worker="w1").row_count == 60
