"""The OpenAPI schema walked in-process, and one object of each kind in a team for its path ids and bodies.

Shared by the generated bad-input tests and the schemathesis run. A new endpoint is covered as soon as
it is routed: its operations come from drf-spectacular's schema; its path ids come from PATH_OBJECTS
(keyed by the resource, the first segment after /api/v1/), and `path_ids` fails naming the resource
until it has an entry; body fields that name other objects take their value from VALID_VALUES.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

API_PREFIX = "/api/v1/"
STUDIO_APPS = ("studio", "audit", "projects", "training", "evaluation", "governance", "serving")


@cache
def openapi_schema() -> dict:
    """The schema `/api/schema/` serves, generated in-process (as JSON, so it holds plain values only)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def resolve(node: Any) -> Any:
    """A schema node with its $refs inlined; allOf/oneOf/anyOf reduced to their first alternative."""
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return resolve({**openapi_schema()["components"]["schemas"][name], **_without(node, "$ref")})
    for combinator in ("allOf", "oneOf", "anyOf"):
        if combinator in node:
            return resolve({**node[combinator][0], **_without(node, combinator)})
    return {key: resolve(value) for key, value in node.items()}


def _without(node: dict, key: str) -> dict:
    return {k: v for k, v in node.items() if k != key}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    media: str | None
    body: dict | None
    query: tuple[tuple[str, dict], ...]

    @property
    def resource(self) -> str:
        return self.path.removeprefix(API_PREFIX).split("/")[0]

    @property
    def has_path_ids(self) -> bool:
        return "{" in self.path

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@cache
def operations() -> tuple[Operation, ...]:
    found = []
    for path, item in openapi_schema()["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            media = "application/json" if "application/json" in content else next(iter(content), None)
            body = resolve(content[media]["schema"]) if media else None
            query = tuple(
                (param["name"], resolve(param.get("schema", {})))
                for param in operation.get("parameters", [])
                if param["in"] == "query"
            )
            found.append(Operation(method, path, media, body, query))
    return tuple(found)


def operations_with_input() -> tuple[Operation, ...]:
    """Every operation with a request body or query parameters."""
    return tuple(op for op in operations() if op.body is not None or op.query)


# --- one of each kind of object, in team A -------------------------------------------------------------


@dataclass
class World:
    team: Any
    owner: Any
    newcomer: Any
    membership: Any
    token: Any
    project: Any
    charter: Any
    dataset: Any
    version: Any
    other_version: Any
    base_model: Any
    base_model_folder: Path
    job: Any
    model_version: Any
    audit_event: Any
    dataset_import: Any
    eval_spec: Any = None
    eval_run: Any = None
    endpoint: Any = None
    api_key: Any = None
    review_item: Any = None
    promotion: Any = None


def hf_folder(folder: Path) -> Path:
    """The smallest folder the catalog accepts as a Hugging Face-format Llama (config, tokenizer, weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (folder / "tokenizer.json").write_text("{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    return folder


def build_world(*, owner, team, tmp_path: Path, suffix: str = "") -> World:
    """Objects of every kind the API's paths name, in `owner`'s team (owner is staff, for base models).

    A `suffix` builds a second world beside the first in the same team (for query-count tests)."""
    from audit.models import AuditEvent
    from projects import services as project_services
    from projects.tests.factories import CharterFactory, MembershipFactory, ProjectFactory, UserFactory
    from tests.test_training_pages import make_job, model_version_with_artifacts
    from training.choices import JobStatus
    from training.tests.factories import BaseModelFactory

    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    project = ProjectFactory(
        team=team, owner=owner, name=f"Support intents{suffix}", slug=f"support-intents{suffix}"
    )
    charter = CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])

    def upload(name: str):
        return project_services.dataset_upload(
            project=project, user=owner, file=io.BytesIO(_rows()), filename=f"{name}.jsonl", name=name
        )

    version, other_version = upload("Intents"), upload("More intents")
    token, _ = project_services.personal_access_token_create(user=owner, name=f"CI{suffix}")
    base_model = BaseModelFactory()
    job = make_job(project, version, base_model, status=JobStatus.SUCCEEDED)
    model_version = model_version_with_artifacts(project, job, settings)
    dataset_import = project_services.dataset_import_create(
        project=project, user=owner, file=io.BytesIO(_rows()), filename="large.jsonl", name="Large"
    )
    eval_spec, eval_run = _evaluation_objects(owner, project, model_version)
    endpoint, api_key, review_item = _serving_world(project, owner)
    promotion = _governance_objects(owner, team, model_version, other_version, eval_spec, suffix)
    return World(
        team=team,
        owner=owner,
        newcomer=UserFactory(username=f"nadia{suffix}"),
        membership=MembershipFactory(team=team, user=UserFactory(username=f"vera{suffix}"), role="viewer"),
        token=token,
        project=project,
        charter=charter,
        dataset=version.dataset,
        version=version,
        other_version=other_version,
        base_model=base_model,
        base_model_folder=hf_folder(tmp_path / f"hf-llama{suffix}"),
        job=job,
        model_version=model_version,
        audit_event=AuditEvent.objects.filter(team=team).first(),
        dataset_import=dataset_import,
        eval_spec=eval_spec,
        eval_run=eval_run,
        endpoint=endpoint,
        api_key=api_key,
        review_item=review_item,
        promotion=promotion,
    )


def _evaluation_objects(owner, project, model_version):
    """A signed eval spec and a queued run of the model version against it (no worker runs it)."""
    from evaluation import services as evaluation_services

    spec = evaluation_services.eval_spec_create(project=project, user=owner, document={})
    spec = evaluation_services.eval_spec_sign(spec=spec, user=owner)
    run = evaluation_services.eval_run_create(user=owner, model_version=model_version, spec=spec)
    return spec, run


def _serving_world(project, owner) -> tuple:
    """A production version of the project (a separate row, so `model_version` stays a candidate), its
    endpoint (slugged like the project), an API key for it and an escalated request waiting for review."""
    from serving import services as serving_services
    from training.choices import Stage
    from training.models import ModelVersion

    source = ModelVersion.objects.filter(project=project).order_by("-number").first()
    production = ModelVersion.objects.create(
        project=project,
        number=source.number + 1,
        base_model=source.base_model,
        dataset_version=source.dataset_version,
        stage=Stage.PRODUCTION,
        created_by=owner,
    )
    endpoint = serving_services.endpoint_publish(project=project, user=owner, slug=project.slug)
    api_key, _ = serving_services.api_key_create(
        user=owner, team=project.team, name="helpdesk", endpoints=[endpoint]
    )
    escalated = serving_services.request_log_record(
        endpoint=endpoint,
        api_key=api_key,
        model_version=production,
        status_code=200,
        route="escalate",
        confidence=0.2,
        input_text="Where is parcel 12?",
        output_text="billing",
    )
    return endpoint, api_key, escalated.review_item


def _governance_objects(owner, team, model_version, other_version, spec, suffix: str):
    """A stage history to roll back and to drill (v10 then v11 in production, v12 then v13 in staging,
    trained on the other dataset), and a pending tier-3 request (a new data source) for the world's model
    version, asked by a product owner so that the owner may approve and reject it."""
    from django.db import transaction

    from governance import services as governance_services
    from governance.tests.helpers import record_run, version_with_weights
    from projects.tests.factories import MembershipFactory, UserFactory

    project = model_version.project
    record_run(model_version, spec)
    with transaction.atomic():
        for number, stage in ((10, "production"), (11, "production"), (12, "staging"), (13, "staging")):
            version = version_with_weights(
                project, owner, number, weights=bytes([number]), dataset_version=other_version
            )
            governance_services.stage_set(version=version, to_stage=stage, kind="promotion", actor=owner)
    requester = MembershipFactory(
        team=team, user=UserFactory(username=f"priya{suffix}"), role="product_owner"
    ).user
    return governance_services.promotion_request_create(
        user=requester, model_version=model_version, target_stage="production"
    )


# The value of a path's ids, by resource. A resource missing here fails `path_ids` with its name.
PATH_OBJECTS = {
    "teams": lambda w: w.team.slug,
    "members": lambda w: w.membership.pk,
    "tokens": lambda w: w.token.pk,
    "projects": lambda w: w.project.pk,
    "charters": lambda w: w.charter.pk,
    "datasets": lambda w: w.dataset.pk,
    "dataset-versions": lambda w: w.version.pk,
    "dataset-imports": lambda w: w.dataset_import.pk,
    "base-models": lambda w: w.base_model.key,
    "training-jobs": lambda w: w.job.pk,
    "model-versions": lambda w: w.model_version.pk,
    "audit-events": lambda w: w.audit_event.pk,
    "eval-specs": lambda w: w.eval_spec.pk,
    "eval-runs": lambda w: w.eval_run.pk,
    "promotions": lambda w: w.promotion.pk,
    "comparisons": lambda w: w.model_version.pk,
    "endpoints": lambda w: w.endpoint.slug,
    "api-keys": lambda w: w.api_key.pk,
}

# Valid values of body fields that name other objects or need a meaning the schema cannot carry.
VALID_VALUES = {
    "project": lambda w: w.project.pk,
    "dataset_version": lambda w: w.version.pk,
    "other": lambda w: w.other_version.pk,
    "team": lambda w: w.team.slug,
    "user": lambda w: w.newcomer.username,
    "base_model": lambda w: w.base_model.key,
    "path": lambda w: str(w.base_model_folder),
    "file": lambda w: SimpleUploadedFile("rows.jsonl", _rows()),
    "data_classes": lambda w: ["internal"],
    "confidence_threshold": lambda w: 0.7,
    "success_measures": lambda w: [{"metric": "accuracy", "baseline": 0.6, "target": 0.9}],
    "split_seed": lambda w: 7,
    "model_version": lambda w: w.model_version.pk,
    "spec": lambda w: w.eval_spec.pk,
    "also_endpoints": lambda w: [w.endpoint.slug],
}


def _rows() -> bytes:
    from projects.tests.factories import classification_rows, jsonl_bytes

    return jsonl_bytes(classification_rows(12))


class MissingFactory(LookupError):
    pass


def path_ids(op: Operation, world: World) -> str:
    """The operation's path with the world's object of its resource in place of the id."""
    if not op.has_path_ids:
        return op.path
    factory = PATH_OBJECTS.get(op.resource)
    if factory is None:
        raise MissingFactory(f"No object for /{op.resource}/ ids: add one to PATH_OBJECTS in {__name__}.")
    start, end = op.path.index("{"), op.path.index("}")
    return op.path[:start] + str(factory(world)) + op.path[end + 1 :]


def example(schema: dict, name: str, world: World) -> Any:
    """A valid value for a field (VALID_VALUES first, then what the schema allows)."""
    if name in VALID_VALUES:
        return VALID_VALUES[name](world)
    if "enum" in schema:
        return next(value for value in schema["enum"] if value not in ("", None))
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date-time":
            return (timezone.now() + timedelta(days=30)).isoformat()
        return "valid-text" if "pattern" in schema else "Valid text"
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        low, high = schema.get("minimum", 0), schema.get("maximum", 1)
        return (low + high) / 2
    if kind == "boolean":
        return True
    if kind == "array":
        return [example(schema.get("items", {}), "", world)]
    if kind == "object" and "properties" in schema:
        return baseline_body(schema, world)
    return {}


def baseline_body(schema: dict, world: World) -> dict:
    """The required fields (and those VALID_VALUES knows) with valid values."""
    required = set(schema.get("required", []))
    return {
        name: example(field, name, world)
        for name, field in schema.get("properties", {}).items()
        if not field.get("readOnly") and (name in required or name in VALID_VALUES)
    }


@dataclass(frozen=True)
class Field:
    """A body field: its path from the body's root (names and list indices) and its schema."""

    path: tuple
    schema: dict

    @property
    def kind(self) -> str:
        if self.schema.get("format") == "binary":
            return "file"
        if self.schema.get("format") == "date-time":
            return "date-time"
        return self.schema.get("type") or ("string" if "enum" in self.schema else "object")

    @property
    def name(self) -> str:
        return ".".join(str(part) for part in self.path)


def fields(schema: dict | None, prefix: tuple = ()) -> list[Field]:
    """Every writable field of a body, nested objects and the objects in lists included."""
    found = []
    for name, field in (schema or {}).get("properties", {}).items():
        if field.get("readOnly"):
            continue
        path = (*prefix, name)
        found.append(Field(path, field))
        if field.get("type") == "object" and "properties" in field:
            found += fields(field, path)
        items = field.get("items", {})
        if field.get("type") == "array" and "properties" in items:
            found += fields(items, (*path, 0))
    return found


def with_value(body: dict, path: tuple, value: Any) -> dict:
    """A deep copy of `body` with `value` at `path` (lists and objects on the way created as needed)."""
    body = copy.deepcopy({k: v for k, v in body.items() if not isinstance(v, SimpleUploadedFile)})
    node: Any = body
    for part, following in itertools.pairwise(path):
        if isinstance(node, list):
            while len(node) <= part:
                node.append({})
            node = node[part]
        else:
            if not isinstance(node.get(part), dict | list):
                node[part] = [] if isinstance(following, int) else {}
            node = node[part]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = value
    return body


# --- what "nothing saved" means ---------------------------------------------------------------------


@cache
def studio_models() -> tuple:
    models = [model for app in STUDIO_APPS for model in apps.get_app_config(app).get_models()]
    return (*models, apps.get_model("auth", "User"), apps.get_model("auth", "Group"))


def stored_state() -> tuple[str, frozenset]:
    """A digest of every row of every studio model (audit events included), and the files under the data
    dir (path, size) other than the SQLite database's own. Raw SQL: it runs after every request."""
    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        for model in studio_models():
            table, pk = connection.ops.quote_name(model._meta.db_table), model._meta.pk.column
            cursor.execute(f"SELECT * FROM {table} ORDER BY {connection.ops.quote_name(pk)}")
            digest.update(model._meta.label.encode() + repr(cursor.fetchall()).encode())
    files = set()
    for folder, _, names in os.walk(settings.DATA_DIR):
        for name in names:
            if ".sqlite3" in name:
                continue
            path = Path(folder) / name
            try:
                files.add((str(path.relative_to(settings.DATA_DIR)), path.stat().st_size))
            except FileNotFoundError:  # a temporary file that came and went during the walk
                continue
    return digest.hexdigest(), frozenset(files)


# --- one world per test module -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[World]:
    """A world built once for a module's tests, in a transaction rolled back after its last test.

    Each test still runs in its own savepoint inside it (pytest-django's `db`), so what one test writes is
    gone before the next; building the world once instead of per test is what keeps the schema walks fast."""
    from django.db import transaction

    from projects.tests.factories import MembershipFactory, TeamFactory, UserFactory

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            team = TeamFactory(name="Support world", slug="support-world")
            owner = MembershipFactory(team=team, user=UserFactory(username="olga-world"), role="owner").user
            yield build_world(owner=owner, team=team, tmp_path=tmp_path_factory.mktemp("world"))
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
