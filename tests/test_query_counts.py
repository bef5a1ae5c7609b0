"""Every list — each API list operation and each page without an id — costs the same number of SQL
queries whether the team has one of each object or two.

The lists come from the OpenAPI schema and the URL resolver, so a new list is covered once routed;
its objects come from the world of tests/api_world.py (build_world with a suffix builds a second one).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from tests.api_world import build_world, operations

pytestmark = pytest.mark.django_db

# Pages with no object in their path that are not lists of team objects.
NOT_LISTS = ("admin/", "accounts/", "api/", "health", "static/", "media/")


def _page_paths(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _page_paths(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            path = prefix + str(pattern.pattern)
            if "<" not in path and "(?P" not in path and "^" not in path and not path.startswith(NOT_LISTS):
                yield "/" + path


def list_paths() -> list[str]:
    api = [op.path for op in operations() if op.method == "get" and not op.has_path_ids]
    return sorted(set(api) | set(_page_paths(get_resolver().url_patterns)))


def _counts(client, paths) -> dict[str, tuple[int, int]]:
    counts = {}
    for path in paths:
        with CaptureQueriesContext(connection) as queries:
            status = client.get(path).status_code
        counts[path] = (status, len(queries))
    return counts


def test_the_sweep_covers_api_lists_and_list_pages():
    paths = list_paths()
    assert "/api/v1/training-jobs/" in paths and "/api/v1/model-versions/" in paths
    assert "/projects/" in paths and "/jobs/" in paths


def test_list_queries_do_not_grow_with_the_rows(client, owner, team, tmp_path):
    build_world(owner=owner, team=team, tmp_path=tmp_path)
    client.force_login(owner)
    paths = list_paths()
    one = _counts(client, paths)
    build_world(owner=owner, team=team, tmp_path=tmp_path, suffix="-2")
    two = _counts(client, paths)
    # Redirects ("/") and POST-only actions (405) are not lists; anything else must answer.
    failed = [f"{path}: {status}" for path, (status, _) in two.items() if status not in (200, 302, 405)]
    assert not failed, f"lists that did not answer: {failed}"
    growing = [
        f"{path}: {one[path][1]} → {two[path][1]} queries" for path in paths if two[path][1] > one[path][1]
    ]
    assert not growing, "\n".join(growing)
