"""File answers: every operation the schema documents with a file's media type answers a client that asks
for that media type by name (``Accept: application/zip``), and its refusals stay the JSON error body."""

from __future__ import annotations

import pytest

from tests.api_world import World, module_world, openapi_schema, operations, path_ids  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(module_world, db) -> World:  # noqa: F811 - the fixture, not the import
    return module_world


def file_answers() -> list[tuple[object, str]]:
    """(operation, media type) for each non-JSON media type a GET documents for its 200."""
    found = []
    for op in operations():
        if op.method != "get":
            continue
        content = openapi_schema()["paths"][op.path]["get"]["responses"].get("200", {}).get("content", {})
        found += [(op, media) for media in content if media != "application/json"]
    return found


FILES = {  # in the test world each of these has its file; comparisons/{id}/ (Markdown too) needs two runs
    "GET /api/v1/dataset-versions/{id}/download/",
    "GET /api/v1/model-versions/{id}/download/",
    "GET /api/v1/model-versions/{id}/card/markdown/",
}


def test_a_file_is_answered_to_a_client_that_asks_for_its_media_type(api, world, outsider):
    answers = file_answers()
    assert {str(op) for op, _ in answers} >= FILES
    for op, media in answers:
        query = "?export=csv" if media == "text/csv" else ""
        url = path_ids(op, world) + query
        response = api.as_user(world.owner).get(url, HTTP_ACCEPT=media)
        if str(op) in FILES:
            assert response.status_code == 200, (url, media, response.content[:300])
        if response.status_code == 200:
            assert response["Content-Type"].split(";")[0] == media, (url, response["Content-Type"])
        else:  # refused for what the object is, never 406 for what was asked
            assert response.status_code == 409, (url, media, response.status_code)
            assert response["Content-Type"] == "application/json"

        refused = api.as_user(outsider).get(url, HTTP_ACCEPT=media)
        assert refused.status_code == 404, (url, refused.status_code)
        assert refused["Content-Type"] == "application/json"
        assert refused.json()["error"]["code"] == "not_found"
