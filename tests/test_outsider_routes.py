"""Route-driven outsider sweep: every routed URL naming an object, every verb, as another team's member.

The routes come from Django's URL resolver, so a new page or API action is swept as soon as it is
routed. Its object comes from the world of tests/api_world.py: API routes by their resource
(PATH_OBJECTS), pages by their path prefix (PAGE_OBJECTS below); a route with neither fails naming it.
An outsider must get exactly the answer a missing id gets (404, or 405 for a verb the route lacks),
and nothing may change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.api_world import PATH_OBJECTS, World, build_world, stored_state

pytestmark = pytest.mark.django_db

VERBS = ("get", "post", "put", "patch", "delete")
# Routes that name no team's object: Django's admin (staff only) and the password-reset link.
NOT_TEAM_OBJECTS = ("admin/", "accounts/reset/")
# Team-wide objects the catalog shares with every team (base models are staff-managed, not team-owned).
SHARED_RESOURCES = {"base-models"}

# The object of a page route, by the literal path before its first id (longest prefix wins).
PAGE_OBJECTS = {
    "teams/": lambda w: w.team.slug,
    "members/": lambda w: w.membership.pk,
    "tokens/": lambda w: w.token.pk,
    "projects/": lambda w: w.project.pk,
    "datasets/": lambda w: w.dataset.pk,
    "datasets/versions/": lambda w: w.version.pk,
    "datasets/imports/": lambda w: w.dataset_import.pk,
    "jobs/": lambda w: w.job.pk,
    "models/": lambda w: w.model_version.pk,
    "eval-specs/": lambda w: w.eval_spec.pk,
    "eval-runs/": lambda w: w.eval_run.pk,
    "promotions/": lambda w: w.promotion.pk,
    "endpoints/": lambda w: w.endpoint.slug,
    "endpoints/keys/": lambda w: w.api_key.pk,
    "endpoints/reviews/": lambda w: w.review_item.pk,
}
# Values of a route's other (non-object) path parameters.
OTHER_PARAMETERS = {"export": "jsonl", "task_id": "8d1e4c1a-3f6b-4f4e-9a57-2b8f0c7d9e10"}
MISSING = {"int": "987654321", "slug": "no-such-object", "str": "no-such-object"}

API_PARAMETER = re.compile(r"\(\?P<(\w+)>[^)]*\)")
PAGE_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Route:
    template: str  # e.g. "/projects/{pk}/charter/" (the first parameter is the object's id)
    object_parameter: str
    is_api: bool

    @property
    def prefix(self) -> str:
        return self.template[1 : self.template.index("{")]

    def resource(self) -> str:
        return self.template.removeprefix("/api/v1/").split("/")[0]

    def url(self, object_id: str) -> str:
        values = dict(OTHER_PARAMETERS, **{self.object_parameter: object_id})
        return self.template.format(**values)


def _patterns(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def routes() -> list[Route]:
    found = set()
    for raw in _patterns(get_resolver().url_patterns):
        if raw.startswith(NOT_TEAM_OBJECTS) or ("<" not in raw):
            continue
        if raw.startswith("api/"):
            names = API_PARAMETER.findall(raw)
            if "format" in names:  # DRF's format-suffix duplicates
                continue
            template = "/" + API_PARAMETER.sub(lambda m: "{" + m.group(1) + "}", raw).replace(
                "^", ""
            ).replace("$", "")
            found.add(Route(template, names[0], is_api=True))
        else:
            names = [name for _, name in PAGE_PARAMETER.findall(raw)]
            template = "/" + PAGE_PARAMETER.sub(lambda m: "{" + m.group(2) + "}", raw)
            found.add(Route(template, names[0], is_api=False))
    return sorted(found, key=lambda route: route.template)


def object_id(route: Route, world: World) -> str:
    if route.is_api:
        factory = PATH_OBJECTS.get(route.resource())
        if factory is None:
            raise LookupError(f"{route.template}: add its resource to PATH_OBJECTS in tests/api_world.py")
    else:
        prefixes = [prefix for prefix in PAGE_OBJECTS if route.prefix.startswith(prefix)]
        if not prefixes:
            raise LookupError(f"{route.template}: add its prefix to PAGE_OBJECTS in {__name__}")
        factory = PAGE_OBJECTS[max(prefixes, key=len)]
    return str(factory(world))


def test_the_sweep_finds_the_routes_it_must_cover():
    templates = {route.template for route in routes()}
    for expected in (
        "/api/v1/training-jobs/{pk}/curves/",
        "/api/v1/training-jobs/{pk}/retry/",
        "/api/v1/model-versions/{pk}/export-merged/",
        "/models/{pk}/download/",
        "/datasets/versions/{pk}/download/{export}/",
    ):
        assert expected in templates


def test_an_outsider_gets_what_a_missing_id_gets_on_every_route_and_verb(
    client, owner, team, outsider, tmp_path
):
    world = build_world(owner=owner, team=team, tmp_path=tmp_path)
    client.force_login(outsider)
    before = stored_state()
    leaks = []
    for route in routes():
        if route.is_api and route.resource() in SHARED_RESOURCES:
            continue
        real = route.url(object_id(route, world))
        kind = "int" if object_id(route, world).isascii() and object_id(route, world).isdecimal() else "slug"
        missing = route.url(MISSING[kind])
        for verb in VERBS:
            send = getattr(client, verb)
            options = (
                {"content_type": "application/json", "data": "{}"} if route.is_api and verb != "get" else {}
            )
            answer, expected = send(real, **options).status_code, send(missing, **options).status_code
            if answer != expected or answer not in (404, 405):
                leaks.append(f"{verb.upper()} {real}: {answer} (a missing id gets {expected})")
    assert not leaks, "\n".join(leaks)
    assert stored_state() == before, "an outsider's request changed something"
