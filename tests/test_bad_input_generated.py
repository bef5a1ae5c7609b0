"""Every class of bad input, sent to every field of every operation the OpenAPI schema lists.

The team owner (staff too, so base-model registration is reached) sends each class of bad value to each
body field, query parameter and path id of each operation with a request body or query parameters.
Every answer must be below 500; every 4xx must carry the standard error body and leave every studio
table (audit events included) and the data dir as they were; and after the writes that were accepted,
every read of the API and the pages of the objects must still answer. New endpoints are walked as soon
as they are routed (see tests/api_world.py for the one place a new resource gets its object).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from tests.api_world import (
    VALID_VALUES,
    Field,
    MissingFactory,
    Operation,
    World,
    baseline_body,
    fields,
    module_world,  # noqa: F401 - a fixture
    openapi_schema,
    operations,
    operations_with_input,
    path_ids,
    stored_state,
    with_value,
)

pytestmark = pytest.mark.django_db

DEEP = 100_000
SURROGATE_BYTES = "\ud800".encode("utf-8", "surrogatepass")  # what a sloppy client puts on the wire
NON_ASCII_DIGITS = ["²", "١٢", "٣", "Ⅻ", "\U0001d7d9"]  # the last: mathematical double-struck one
HUGE_NUMBERS: list[Any] = [10**30, -(10**30), -1, 2**31, 2**63, 1e308, -1e308]
NON_FINITE_TEXT = ["NaN", "Infinity", "-Infinity", "1e400"]
BAD_DATE_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "10000-01-01T00:00:00Z"]
# For each kind of field, values of the other JSON types (null included).
OTHER_TYPES: dict[str, list[Any]] = {
    "string": [{"a": 1}, [1], 12, None],
    "date-time": [{"a": 1}, 12, True, None],
    "integer": ["text", [1], {"a": 1}, True, None],
    "number": ["text", [1], {"a": 1}, None],
    "boolean": ["text", 12, [1], None],
    "array": ["text", {"a": 1}, 12, None],
    "object": ["text", [1], 12, None],
}
LONG_TEXT = "x" * 100_000


class RawJSON(str):
    """A value written into the body as it is (a JSON token json.dumps cannot produce, e.g. 1e400)."""


@dataclass
class Probe:
    """One request: a body (JSON-able or raw text), query string, path override and extra headers."""

    label: str
    body: Any = None
    raw_body: str | None = None
    query: str = ""
    path: str | None = None
    headers: dict = field(default_factory=dict)
    content_type: str | None = None


# --- the classes of bad input ---------------------------------------------------------------------------


def _json_fields(op: Operation) -> list[Field]:
    return fields(op.body) if op.media == "application/json" else []


def _form_fields(op: Operation) -> list[Field]:
    return fields(op.body) if op.media and op.media != "application/json" else []


def nesting(op: Operation, base: dict) -> Iterator[Probe]:
    deep = "[" * DEEP + "]" * DEEP
    if op.media == "application/json":
        yield Probe("whole body", raw_body=deep)
        for f in _json_fields(op)[:1] + [f for f in _json_fields(op) if f.kind == "object"]:
            yield Probe(f"{f.name} nested", body=with_value(base, f.path, RawJSON(deep)))
    for f in _form_fields(op):
        yield Probe(f"{f.name} nested", body=with_value(base, f.path, deep))


def texts(op: Operation, base: dict) -> Iterator[Probe]:
    for f in _json_fields(op):
        if f.kind in ("string", "date-time"):
            for value in ("\ud800", "a\udfffb", "\x00"):
                yield Probe(f"{f.name}={value!r}", body=with_value(base, f.path, value))
        elif f.kind == "array":
            yield Probe(f"{f.name} item", body=with_value(base, f.path, ["\ud800"]))
        elif f.kind == "object":
            yield Probe(f"{f.name} key", body=with_value(base, f.path, {"\ud800": "\x00"}))
    for f in _form_fields(op):
        if f.kind != "file":
            for value in (SURROGATE_BYTES, b"\x00", b'{"\\ud800": "\\u0000"}'):
                yield Probe(f"{f.name}={value!r}", body=with_value(base, f.path, value))


def numbers(op: Operation, base: dict) -> Iterator[Probe]:
    for f in _json_fields(op) + _form_fields(op):
        if f.kind in ("integer", "number"):
            as_json = op.media == "application/json"
            values = [*HUGE_NUMBERS, *NON_FINITE_TEXT, *NON_ASCII_DIGITS]
            if as_json:
                values += [float("nan"), float("inf"), RawJSON("1e400"), RawJSON("-1e400")]
            for value in values:
                yield Probe(f"{f.name}={value!r}", body=with_value(base, f.path, value))
        elif f.kind == "date-time":
            for value in BAD_DATE_TIMES:
                yield Probe(f"{f.name}={value}", body=with_value(base, f.path, value))


def wrong_types(op: Operation, base: dict) -> Iterator[Probe]:
    if op.media == "application/json":
        for whole in ([base], "text", 12, None):
            yield Probe(f"body={whole!r}", body=whole)
    for f in _json_fields(op):
        for value in OTHER_TYPES.get(f.kind, OTHER_TYPES["object"]):
            yield Probe(f"{f.name}={value!r}", body=with_value(base, f.path, value))
    for f in _form_fields(op):
        for value in ("{}", "[1]", "true", ""):
            yield Probe(f"{f.name}={value!r}", body=with_value(base, f.path, value))


def overlong(op: Operation, base: dict) -> Iterator[Probe]:
    for f in _json_fields(op) + _form_fields(op):
        if f.kind == "string":
            yield Probe(f"{f.name} long", body=with_value(base, f.path, LONG_TEXT))
        elif f.kind == "array":
            yield Probe(f"{f.name} long", body=with_value(base, f.path, ["x"] * 10_000))
        elif f.kind == "object":
            yield Probe(f"{f.name} long", body=with_value(base, f.path, {f"k{i}": i for i in range(10_000)}))


def _query(name: str, value: bytes) -> str:
    return f"{name}={quote_from_bytes(value)}"


QUERY_VALUES: list[bytes] = [
    *(digit.encode() for digit in NON_ASCII_DIGITS[:3]),
    SURROGATE_BYTES,
    b"\x00",
    str(10**30).encode(),
    b"-1",
    b"1e308",
    b"NaN",
    BAD_DATE_TIMES[0].encode(),
    b"x" * 5_000,
]
# Pagination is one class shared by every list: its parameters are sent to the first list only.
SHARED_QUERY_PARAMETERS = {"page", "page_size"}


def query_params(op: Operation, base: dict) -> Iterator[Probe]:
    first_list = next(o for o in operations_with_input() if SHARED_QUERY_PARAMETERS & {n for n, _ in o.query})
    for name, _ in op.query:
        if name in SHARED_QUERY_PARAMETERS and op != first_list:
            continue
        for value in QUERY_VALUES:
            yield Probe(f"?{name}={value[:20]!r}", body=base or None, query=_query(name, value))


BAD_IDS = ["²", "١٢", "0", "-1", str(10**30), quote_from_bytes(SURROGATE_BYTES), "%00", "x" * 1_000]


def path_and_headers(op: Operation, base: dict) -> Iterator[Probe]:
    if op.has_path_ids:
        start, end = op.path.index("{"), op.path.index("}")
        for bad in BAD_IDS:
            yield Probe(f"id={bad[:20]}", body=base or None, path=op.path[:start] + bad + op.path[end + 1 :])
    junk = SURROGATE_BYTES.decode("latin-1")  # a WSGI server hands header bytes over as latin-1
    headers = {"HTTP_X_REQUEST_ID": junk, "HTTP_ACCEPT_LANGUAGE": junk, "HTTP_ACCEPT": f"{junk}/json"}
    yield Probe("headers", body=base or None, headers=headers)
    if op.media:
        for content_type in (f"{op.media}; charset=utf-99", f"{op.media}; charset={junk}", "text/x-unknown"):
            yield Probe(f"Content-Type {content_type[-20:]!r}", body=base, content_type=content_type)


CLASSES: dict[str, Callable[[Operation, dict], Iterator[Probe]]] = {
    "deep nesting": nesting,
    "text that cannot be stored": texts,
    "numbers and dates out of range": numbers,
    "wrong types": wrong_types,
    "over-long values": overlong,
    "query parameters": query_params,
    "path ids and headers": path_and_headers,
}


# --- sending and judging -----------------------------------------------------------------------------


def _dump(value: Any) -> str:
    """JSON text; RawJSON values are written as they are; lone surrogates become \\ud800 escapes."""
    raw: dict[str, str] = {}

    def mark(node):
        if isinstance(node, RawJSON):
            raw[f"@raw{len(raw)}@"] = str(node)
            return f"@raw{len(raw) - 1}@"
        if isinstance(node, dict):
            return {key: mark(item) for key, item in node.items()}
        if isinstance(node, list):
            return [mark(item) for item in node]
        return node

    text = json.dumps(mark(value))
    for marker, token in raw.items():
        text = text.replace(json.dumps(marker), token)
    return text


def _multipart(body: dict, world: World) -> bytes:
    """A multipart body: numbers as text, a fresh file unless the probe put something else in `file`."""
    data = {
        name: str(value) if isinstance(value, int | float) else value
        for name, value in body.items()
        if value is not None and not isinstance(value, SimpleUploadedFile)
    }
    data.setdefault("file", VALID_VALUES["file"](world))
    return encode_multipart(BOUNDARY, data)


def send(client, op: Operation, probe: Probe, world: World):
    path = probe.path or path_ids(op, world)
    if probe.query:
        path = f"{path}?{probe.query}"
    if probe.raw_body is not None:
        data, content_type = probe.raw_body.encode(), op.media
    elif op.media == "application/json":
        data, content_type = _dump(probe.body).encode(), op.media
    elif op.media:
        data, content_type = _multipart(probe.body or {}, world), MULTIPART_CONTENT
    else:
        data, content_type = b"", None
    kwargs = {"content_type": probe.content_type or content_type} if content_type else {}
    return client.generic(op.method.upper(), path, data, **kwargs, **probe.headers)


def standard_error_problem(response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"the {response.status_code} body is not JSON: {response.content[:120]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if set(body) != {"error"} or not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return f"the {response.status_code} body is not the standard error shape: {response.content[:200]!r}"
    return None


@dataclass
class Run:
    """Sends probes as the owner and keeps what went wrong; the stored state is re-read after each answer."""

    api: Any
    pages: Any
    world: World
    crashes: list[str]
    failures: list[str] = field(default_factory=list)
    sent: int = 0

    def __post_init__(self):
        self.state = stored_state()

    def probe(self, op: Operation, probe: Probe) -> bool:
        """Send one probe and judge its answer; True when a write was accepted."""
        self.crashes.clear()
        self.sent += 1
        response = send(self.api, op, probe, self.world)
        status = response.status_code
        if status >= 500:
            cause = self.crashes[0] if self.crashes else response.content[:120]
            self.failures.append(f"{op} [{probe.label}]: {status}: {cause!r}")
        elif status >= 400 and (problem := standard_error_problem(response)):
            self.failures.append(f"{op} [{probe.label}]: {problem}")
        documented = openapi_schema()["paths"][op.path][op.method]["responses"]
        if str(status) not in documented:
            self.failures.append(
                f"{op} [{probe.label}]: {status}, not among its documented {', '.join(documented)}"
            )
        state, self.state = self.state, stored_state()
        if 400 <= status < 500 and self.state != state:
            self.failures.append(f"{op} [{probe.label}]: {status}, yet something was saved")
        return status < 400 and op.method != "get"

    def reads_still_answer(self) -> None:
        """After accepted writes, every API read and the objects' pages answer below 500."""
        reads = [path_ids(op, self.world) for op in operations() if op.method == "get"]
        pages = [
            reverse("projects:project_list"),
            reverse("projects:project_detail", args=[self.world.project.pk]),
            reverse("projects:charter_history", args=[self.world.project.pk]),
            reverse("projects:dataset_version_detail", args=[self.world.version.pk]),
            reverse("training:job_detail", args=[self.world.job.pk]),
            reverse("training:model_detail", args=[self.world.model_version.pk]),
        ]
        for client, urls in ((self.api, reads), (self.pages, pages)):
            for url in urls:
                self.crashes.clear()
                response = client.get(url)
                if response.status_code >= 500:
                    cause = self.crashes[0] if self.crashes else ""
                    self.failures.append(f"after accepted writes, GET {url}: {response.status_code} {cause}")


@pytest.fixture
def world(module_world, db) -> World:  # noqa: F811 - the fixture, not the import
    """The module's world; each test's writes are rolled back at its end."""
    return module_world


@pytest.fixture
def crashes():
    """The exceptions behind 500s, so a failure names the cause."""
    seen: list[str] = []

    def record(sender, request=None, **kwargs):
        import sys

        exc = sys.exc_info()[1]
        seen.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    got_request_exception.connect(record)
    yield seen
    got_request_exception.disconnect(record)


def test_every_resource_in_the_schema_has_an_object_for_its_ids(world):
    missing = []
    for op in operations():
        try:
            path_ids(op, world)
        except MissingFactory as error:
            missing.append(str(error))
    assert not missing, sorted(set(missing))


def test_the_valid_bodies_are_accepted_so_bad_values_reach_the_code_behind_them(api, world):
    """A bad value only tests what lies behind validation if the rest of the body is valid."""
    api.as_user(world.owner)
    refused = []
    for op in operations_with_input():
        if op.body is None:
            continue
        response = send(api, op, Probe("baseline", body=baseline_body(op.body, world)), world)
        if response.status_code >= 300:
            refused.append(f"{op}: {response.status_code} {response.content[:300]!r}")
    assert not refused, "\n".join(refused)


def test_numeric_inputs_declare_their_bounds(world):
    """Every number a body takes is bounded in the schema, so integrators see the range and nothing
    downstream overflows."""
    unbounded = [
        f"{op} {f.name}"
        for op in operations_with_input()
        for f in fields(op.body)
        if f.kind in ("integer", "number") and ("maximum" not in f.schema or "minimum" not in f.schema)
    ]
    assert not unbounded, unbounded


@pytest.mark.parametrize("input_class", list(CLASSES))
def test_no_input_produces_a_500_or_saves_anything_when_refused(input_class, api, client, world, crashes):
    api.as_user(world.owner)
    client.force_login(world.owner)
    api.raise_request_exception = client.raise_request_exception = False
    run = Run(api=api, pages=client, world=world, crashes=crashes)
    accepted = False
    for op in operations_with_input():
        base = baseline_body(op.body, world) if op.body else {}
        for probe in CLASSES[input_class](op, base):
            accepted |= run.probe(op, probe)
    if accepted:  # a value that passed validation must not break what reads it afterwards
        run.reads_still_answer()
    assert run.sent > 0
    assert not run.failures, f"{len(run.failures)} of {run.sent} answers were wrong:\n" + "\n".join(
        run.failures[:60]
    )
