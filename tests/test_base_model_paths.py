"""Registering a base model: whatever path a staff member types is answered with a 400 naming `path` (API)
or a message on the field (admin console), never an OSError; nothing is registered."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests.api_world import hf_folder
from training.models import BaseModel

pytestmark = pytest.mark.django_db


def _unreadable(tmp_path):
    """A folder whose weights cannot be read (a directory named like a weights file): root reads anything
    else, so this is the unreadable case a test can build."""
    folder = hf_folder(tmp_path / "unreadable")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()
    return str(folder)


def _broken_weights(tmp_path):
    folder = hf_folder(tmp_path / "broken")
    (folder / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    return str(folder)


BAD_PATHS = {
    "10 KB long": lambda tmp_path: "/" + "x" * 10_000,
    "a NUL byte": lambda tmp_path: f"{tmp_path}/a\x00b",
    "a file": lambda tmp_path: str(hf_folder(tmp_path / "file") / "config.json"),
    "a component too long": lambda tmp_path: f"/{'y' * 300}/model",
    "unreadable weights": _unreadable,
    "weights that are not safetensors": _broken_weights,
}


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.test", "pw")


@pytest.mark.parametrize("kind", list(BAD_PATHS))
def test_the_api_refuses_a_bad_path_naming_it(api, admin, tmp_path, kind):
    response = api.as_user(admin).post(
        "/api/v1/base-models/", {"name": "Local Llama", "path": BAD_PATHS[kind](tmp_path)}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "path" in response.json()["error"]["details"]
    assert not BaseModel.objects.filter(name="Local Llama").exists()
    assert not AuditEvent.objects.filter(action="base_model.register").exists()


@pytest.mark.parametrize("kind", list(BAD_PATHS))
def test_the_admin_console_explains_a_bad_path_on_the_field(client, admin, tmp_path, kind):
    client.force_login(admin)
    response = client.post(
        "/admin/training/basemodel/add/", {"name": "Local Llama", "path": BAD_PATHS[kind](tmp_path)}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["path"]
    assert not BaseModel.objects.filter(name="Local Llama").exists()


def test_a_good_folder_still_registers(api, admin, tmp_path):
    response = api.as_user(admin).post(
        "/api/v1/base-models/",
        {"name": "Local Llama", "path": str(hf_folder(tmp_path / "ok"))},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["parameter_count"] == 4
