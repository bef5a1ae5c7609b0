"""Mass assignment, walked from the OpenAPI schema: no read-only field can be set through the API.

For every write operation, the fields its response shows but its request body does not take (team,
status, checksums, lineage, approvals, stages, created_by, ...) are sent beside a valid baseline body,
each with a value other than the one the baseline stores. The operation may refuse them or ignore them;
it must never store them: neither its answer nor a fresh read of the object may show the sent value.
Each request runs in a savepoint that is rolled back, so every operation starts from the same world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction

from tests.api_world import (
    Operation,
    World,
    baseline_body,
    build_world,
    openapi_schema,
    operations,
    path_ids,
    resolve,
)
from tests.test_bad_input_generated import Probe, send

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch")
# Fields naming a person: sent as someone else in the team.
PEOPLE = {
    "created_by",
    "requested_by",
    "approved_by",
    "signed_by",
    "decided_by",
    "author",
    "owner",
    "actor",
    "user",
}


def response_fields(op: Operation) -> dict[str, dict]:
    """The read-only fields of the operation's 2xx JSON answers, less those its request body takes."""
    item = openapi_schema()["paths"][op.path][op.method]
    found: dict[str, dict] = {}
    for code, answer in item.get("responses", {}).items():
        if not code.startswith("2"):
            continue
        schema = resolve(answer.get("content", {}).get("application/json", {}).get("schema", {}))
        for name, field in schema.get("properties", {}).items():
            if field.get("readOnly"):
                found.setdefault(name, field)
    writable = set((op.body or {}).get("properties", {}))
    return {name: field for name, field in found.items() if name not in writable}


def write_operations() -> list[Operation]:
    return [op for op in operations() if op.method in WRITES and response_fields(op)]


MEASURED = ("_ms", "_seconds", "_bytes", "_count", "_tokens")


def other_value(name: str, schema: dict, stored: Any, world: World, other_team) -> Any:
    """A value of the field's kind that differs from the one the baseline stored."""
    if name == "id":  # far from any sequence's next value (PostgreSQL's do not roll back)
        return "mass-assigned-id" if isinstance(stored, str) else 987654321
    if name == "team":
        return other_team.pk if isinstance(stored, int) else other_team.slug
    if name in PEOPLE:
        return world.newcomer.pk if isinstance(stored, int) else world.newcomer.username
    choices = [value for value in schema.get("enum", []) if value not in (stored, "", None)]
    if choices:
        return choices[0]
    if isinstance(stored, bool) or schema.get("type") == "boolean":
        return not stored
    if isinstance(stored, int) or schema.get("type") == "integer":
        if name.endswith(MEASURED):  # a measurement can land on stored + 1 by itself (7 ms, then 8)
            return (stored or 0) + 1_000_003
        return (stored or 0) + 1  # often another real object of the kind (the world has several)
    if isinstance(stored, float) or schema.get("type") == "number":
        return round((stored or 0) + 0.123, 3)
    if isinstance(stored, list) or schema.get("type") == "array":
        return [] if stored else [{"mass": "assigned"}]
    if isinstance(stored, dict) or schema.get("type") == "object":
        return {"mass": "assigned"}
    if schema.get("format") == "date-time":
        return "2001-02-03T04:05:06Z"
    return f"mass-assigned-{name}"


def _json(response) -> dict:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def reread(api, op: Operation, answer: dict, world: World) -> dict:
    """The object as a fresh GET shows it: the operation's own path, or the created object's detail."""
    gets = {o.path: o for o in operations() if o.method == "get"}
    if op.has_path_ids and op.path in gets and op.method in ("put", "patch"):
        return _json(api.get(path_ids(op, world)))
    if op.has_path_ids:  # an action on an object (approve, retire, ...): the object's own detail
        detail = Operation("get", op.path[: op.path.index("}") + 2], None, None, ())
        if detail.path in gets and detail.path != op.path:
            fresh = _json(api.get(path_ids(detail, world)))
            return fresh if "id" in answer and fresh.get("id") == answer["id"] else {}
    for path in gets:
        rest = path.removeprefix(op.path)
        if path != op.path and path.startswith(op.path) and rest.count("/") == 1 and rest.startswith("{"):
            key = rest[1:-2]
            value = answer.get(key, answer.get("id"))
            if value is not None:
                return _json(api.get(path_ids(op, world) + f"{value}/"))
    return {}


def attempt(api, op: Operation, body: dict, world: World) -> tuple[int, dict, dict]:
    """Send the body, read the object back, roll everything back."""
    with transaction.atomic():
        response = send(api, op, Probe("mass-assignment", body=body), world)
        answer = _json(response)
        fresh = reread(api, op, answer, world) if response.status_code < 300 else {}
        transaction.set_rollback(True)
    return response.status_code, answer, fresh


@pytest.fixture
def world(owner, team, tmp_path) -> World:
    return build_world(owner=owner, team=team, tmp_path=tmp_path)


def test_the_sweep_covers_the_read_only_fields_that_matter():
    walked = {(str(op), name) for op in write_operations() for name in response_fields(op)}
    for expected in (
        ("PATCH /api/v1/projects/{id}/", "team"),
        ("PATCH /api/v1/members/{id}/", "user"),
        ("POST /api/v1/training-jobs/", "status"),
        ("POST /api/v1/datasets/", "sha256"),
        ("PATCH /api/v1/model-versions/{id}/", "lineage"),
        ("PATCH /api/v1/model-versions/{id}/", "stage"),
        ("POST /api/v1/promotions/", "approvals"),
        ("POST /api/v1/eval-specs/", "created_by"),
    ):
        assert expected in walked, expected


def test_no_read_only_field_can_be_set_through_the_api(api, world, other_team):
    api.as_user(world.owner)
    api.raise_request_exception = False
    stored_anyway, refused_baselines, probed = [], [], 0
    for op in write_operations():
        base = baseline_body(op.body, world) if op.body else {}
        status, natural, _ = attempt(api, op, base, world)
        if status == 409 and op.body is None:
            continue  # a state change the world's object is past (e.g. cancel a finished job)
        if status >= 300:
            refused_baselines.append(f"{op}: {status} {natural}")
            continue
        sent = {
            name: other_value(name, field, natural.get(name), world, other_team)
            for name, field in response_fields(op).items()
        }
        # All at once first; where that is refused, each alone (so one refusal does not hide the rest).
        status, answer, fresh = attempt(api, op, {**base, **sent}, world)
        trials = [(sent, status, answer, fresh)]
        if status >= 300:
            trials = [
                ({name: value}, *attempt(api, op, {**base, name: value}, world))
                for name, value in sent.items()
            ]
        for values, status, answer, fresh in trials:
            probed += len(values)
            if status >= 300:
                continue  # refused: nothing stored (the savepoint also rolled back)
            for name, value in values.items():
                for where, shown in (("answer", answer), ("fresh read", fresh)):
                    if name in shown and shown[name] == value and natural.get(name) != value:
                        stored_anyway.append(f"{op} {name}={value!r}: the {where} shows the sent value")
    assert not stored_anyway, "\n".join(stored_anyway)
    assert not refused_baselines, "\n".join(refused_baselines)
    assert probed > 100
