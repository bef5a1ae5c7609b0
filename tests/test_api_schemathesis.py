"""schemathesis against /api/schema/ as the signed-in team owner: no 5xx, and every answer is one the schema
documents: its status, content type, headers and body.

The schema is the one the studio serves, loaded through the WSGI application in-process (no server is
started), and every request goes through the same application with the owner's bearer token. Path ids
point at the objects of tests/api_world.py, so the generated bodies and query parameters reach real
objects rather than 404s. Bounded and derandomized: the same examples on every run.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_world import PATH_OBJECTS, World, module_world  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 6


@pytest.fixture
def world(module_world, db) -> World:  # noqa: F811 - the fixture, not the import
    """The module's world; each test's writes are rolled back at its end."""
    return module_world


@pytest.fixture
def owner_token(world) -> str:
    from projects.services import personal_access_token_create

    _, secret = personal_access_token_create(user=world.owner, name="schemathesis")
    return secret


@pytest.fixture
def studio_api_schema(world):
    """The served schema, through the WSGI application. Django closes the database connection at the end of
    each request, which would end the test's transaction: as Django's own test client does, it does not."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        # The fuzzing phase only: the coverage phase sends every boundary value of every field (about 4,400
        # requests, four fifths of this test's time), which tests/test_bad_input_generated.py already sends
        # class by class with stronger checks (the standard error body, nothing saved).
        loaded.config.phases.coverage.enabled = False
        yield loaded
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("studio_api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_answers_5xx_and_conforms_to_its_schema(case, world, owner_token):
    resource = case.operation.path.removeprefix("/api/v1/").split("/")[0]
    for name in case.path_parameters or {}:
        case.path_parameters[name] = PATH_OBJECTS[resource](world)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {owner_token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            response_headers_conformance,
        ],
    )
