"""A project's output JSON Schema is checked when it is saved: a 400 naming the keyword, nothing saved."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from projects.models import Project
from projects.tests.factories import ProjectFactory

ORDER_SCHEMA = {
    "type": "object",
    "$defs": {"money": {"type": "number", "minimum": 0}},
    "properties": {
        "total": {"$ref": "#/$defs/money"},
        "contact": {"oneOf": [{"required": ["email"]}, {"required": ["phone"]}]},
        "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
    },
}


def create(api, user, schema):
    body = {
        "team": "support",
        "name": "Order fields",
        "task_type": "extraction",
        "instructions": "Extract the order fields as JSON.",
        "output_schema": schema,
    }
    return api.as_user(user).post("/api/v1/projects/", body, format="json")


def audit_count(api) -> int:
    return api.get("/api/v1/audit-events/").json()["count"]


def test_a_schema_with_refs_one_of_and_patterns_is_saved(api, owner):
    response = create(api, owner, ORDER_SCHEMA)
    assert response.status_code == 201, response.content
    assert Project.objects.get().output_schema == ORDER_SCHEMA


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "object", "properties": {"name": {"type": "string", "minLength": "5"}}},
            "output_schema.properties.name.minLength: '5' is not of type 'integer'",
        ),
        (
            {"type": "object", "properties": {"name": {"type": "string", "pattern": "(?<!re)fund"}}},
            "output_schema.properties.name.pattern: pattern '(?<!re)fund' is refused: invalid perl operator",
        ),
        (
            {"type": "object", "properties": {"name": {"$ref": "#/$defs/missing"}}},
            "output_schema.$ref: '#/$defs/missing' does not resolve inside the schema",
        ),
    ],
)
def test_create_with_an_unusable_schema_is_a_400_naming_the_keyword_and_saves_nothing(
    api, owner, schema, message
):
    events_before = audit_count(api.as_user(owner))
    response = create(api, owner, schema)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_schema"
    assert error["message"].startswith(message)
    assert error["details"]["output_schema"][0].startswith(message)
    assert not Project.objects.exists()
    assert audit_count(api) == events_before


def test_update_with_an_unusable_schema_is_a_400_and_keeps_the_old_schema(api, owner, team):
    project = ProjectFactory(team=team, owner=owner, task_type="extraction", output_schema=ORDER_SCHEMA)
    events_before = audit_count(api.as_user(owner))
    bad = {"type": "object", "properties": {"code": {"type": "string", "pattern": r"(\w)\1"}}}
    response = api.patch(f"/api/v1/projects/{project.pk}/", {"output_schema": bad}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(
        "output_schema.properties.code.pattern: pattern '(\\\\w)\\\\1' is refused: invalid escape sequence"
    )
    project.refresh_from_db()
    assert project.output_schema == ORDER_SCHEMA
    assert audit_count(api) == events_before


def test_the_project_form_shows_the_schema_error_and_saves_nothing(client, team, owner):
    client.force_login(owner)
    response = client.post(
        reverse("projects:project_create"),
        {
            "name": "Order fields",
            "task_type": "extraction",
            "instructions": "Extract the order fields.",
            "output_schema": json.dumps({"type": "object", "required": "total"}),
        },
    )
    assert response.status_code == 200
    assert (
        "output_schema.required: &#x27;total&#x27; is not of type &#x27;array&#x27;"
        in response.content.decode()
    )
    assert not Project.objects.exists()


# --- every keyword of the meta-schema, by generation -------------------------------------------------
# The vocabularies of JSON Schema Draft 2020-12, read from the official meta-schemas that `jsonschema`
# ships: a keyword added to the standard is covered without editing this test.
VOCABULARIES = (
    "core",
    "applicator",
    "unevaluated",
    "validation",
    "meta-data",
    "format-annotation",
    "content",
)
CANDIDATES = ("5", 5, -1, 0.5, True, ["x"], {"x": 1})


def meta_schema_keywords() -> list[str]:
    from jsonschema_specifications import REGISTRY

    keywords: set[str] = set()
    for vocabulary in VOCABULARIES:
        keywords |= set(
            REGISTRY.contents(f"https://json-schema.org/draft/2020-12/meta/{vocabulary}")["properties"]
        )
    return sorted(keywords)


def refused_values(keywords: list[str]) -> dict:
    """Each keyword's first candidate that the official meta-schema itself refuses at that keyword; keywords
    that take any JSON value (`const`, `default`, `examples`) are left out."""
    from jsonschema import Draft202012Validator

    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    refused = {}
    for keyword in keywords:
        for value in CANDIDATES:
            if any(list(e.absolute_path)[:1] == [keyword] for e in meta.iter_errors({keyword: value})):
                refused[keyword] = value
                break
    return refused


KEYWORDS = meta_schema_keywords()
REFUSED = refused_values(KEYWORDS)


def test_the_walk_finds_the_standards_keywords():
    assert {"minLength", "oneOf", "$ref", "pattern", "required", "items", "format"} <= set(KEYWORDS)
    assert len(REFUSED) >= 40


@pytest.mark.parametrize(("keyword", "bad"), REFUSED.items(), ids=list(REFUSED))
def test_a_wrongly_typed_value_of_every_keyword_is_a_400_naming_it_and_saves_nothing(
    api, owner, keyword, bad
):
    events_before = audit_count(api.as_user(owner))
    cases = [
        (
            {"type": "object", "properties": {"field": {keyword: bad}}},
            f"output_schema.properties.field.{keyword}",
        )
    ]
    if keyword != "type":  # a project's schema is an object at the top: checked before the meta-schema
        cases.append(({"type": "object", keyword: bad}, f"output_schema.{keyword}"))
    for schema, path in cases:
        response = create(api, owner, schema)
        assert response.status_code == 400, (schema, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid_schema"
        assert error["message"].startswith(path) and error["message"][len(path)] in ":.[", (schema, error)
    assert not Project.objects.exists()
    assert audit_count(api) == events_before
