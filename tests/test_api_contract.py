"""The REST contract integrators rely on: one error shape, the right statuses, a clean OpenAPI schema."""

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_validation_errors_name_the_field(api, owner):
    error = assert_error(
        api.as_user(owner).post("/api/v1/teams/", {"name": ""}, format="json"), 400, "invalid"
    )
    assert "name" in error["details"]
    assert error["message"].startswith("name:")


def test_malformed_json_is_a_400_not_a_500(api, owner):
    response = api.as_user(owner).post("/api/v1/teams/", data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_unknown_api_path_is_a_json_404(client):
    assert_error(client.get("/api/v1/no-such-resource/"), 404, "not_found")


def test_wrong_method_is_a_405_in_the_error_shape(api, owner, team):
    assert_error(api.as_user(owner).delete(f"/api/v1/teams/{team.slug}/"), 405, "method_not_allowed")


def test_team_slugs_are_chosen_by_the_studio_and_never_reveal_a_taken_one(api, outsider, team):
    """An outsider cannot learn that team "support" exists: a taken name or slug answers like a free one."""
    api.as_user(outsider)
    taken = api.post("/api/v1/teams/", {"name": "Support", "slug": "support"}, format="json")
    free = api.post("/api/v1/teams/", {"name": "Nobody Has This", "slug": "nobody-has-this"}, format="json")
    assert taken.status_code == free.status_code == 201
    assert re.fullmatch(r"support-[a-z0-9]{6}", taken.json()["slug"])
    assert re.fullmatch(r"nobody-has-this-[a-z0-9]{6}", free.json()["slug"])
    again = api.post("/api/v1/teams/", {"name": "Support"}, format="json")
    assert again.status_code == 201 and again.json()["slug"] not in {team.slug, taken.json()["slug"]}
    unsluggable = api.post("/api/v1/teams/", {"name": "日本"}, format="json")
    assert re.fullmatch(r"team-[a-z0-9]{6}", unsluggable.json()["slug"])


def test_oversized_body_is_refused_with_413_before_it_is_read(client, settings):
    settings.STUDIO_MAX_UPLOAD_BYTES = 1000
    response = client.generic(
        "POST", "/api/v1/teams/", b"x" * 10, CONTENT_TYPE="application/json", CONTENT_LENGTH="5000"
    )
    assert_error(response, 413, "payload_too_large")


def test_responses_carry_a_request_id(api, owner):
    response = api.as_user(owner).get("/api/v1/teams/", HTTP_X_REQUEST_ID="abc-1")
    assert response["X-Request-ID"] == "abc-1"
    assert len(api.get("/api/v1/teams/")["X-Request-ID"]) == 32


def test_team_create_makes_the_caller_its_owner(api, owner):
    created = api.as_user(owner).post("/api/v1/teams/", {"name": "Finance Ops"}, format="json")
    assert created.status_code == 201
    assert created.json()["slug"].startswith("finance-ops-")
    assert created.json()["my_role"] == "owner"


def test_the_api_root_links_every_resource_that_has_a_list(api, owner):
    from django.urls import NoReverseMatch, reverse

    from studio.api.router import router

    with_a_list = set()
    for prefix, _viewset, basename in router.registry:
        with contextlib.suppress(NoReverseMatch):
            reverse(f"{basename}-list")
            with_a_list.add(prefix)
    api.as_user(owner)
    root = api.get("/api/v1/").json()
    assert "model-versions" in root  # a prefix two apps register, listed by the one with a list
    assert set(root) == with_a_list
    for url in root.values():
        assert api.get(url).status_code == 200, url


def test_a_page_that_is_not_a_number_is_a_400_naming_it_and_one_past_the_last_a_404(api, owner):
    api.as_user(owner)
    for page in ("abc", "0", "²"):
        assert "page" in assert_error(api.get(f"/api/v1/teams/?page={page}"), 400, "invalid")["details"]
    assert_error(api.get("/api/v1/teams/?page=99"), 404, "not_found")
    assert api.get("/api/v1/teams/?page=last").status_code == 200


def test_the_schema_documents_every_operations_refusals_with_the_error_body():
    from tests.api_world import openapi_schema

    schema = openapi_schema()
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            refusals = {code: r for code, r in operation["responses"].items() if code >= "400"}
            assert {"401", "406", "429"} <= set(refusals), (method, path)
            if "{" in path or "requestBody" in operation:
                assert "404" in refusals, (method, path)
            if method != "get":
                assert {"403", "409"} <= set(refusals), (method, path)
            for code, response in refusals.items():
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }, (method, path, code)
                assert response["description"]


def test_openapi_schema_generates_without_warnings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--fail-on-warn",
            "--validate",
            "--file",
            str(tmp_path / "s.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "studio.settings.test"},
    )
    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "s.yaml").read_text()
    for path in ("/api/v1/teams/", "/api/v1/members/", "/api/v1/tokens/", "/api/v1/audit-events/"):
        assert path in schema
    assert "bearerAuth" in schema


def test_schema_and_docs_are_served_with_local_assets(api, owner):
    api.as_user(owner)
    assert api.get("/api/schema/").status_code == 200
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
