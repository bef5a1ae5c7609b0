"""What the inference process needs from the control plane, as plain data: keys, endpoint states, logs.

``ControlPlane`` is the boundary: the ASGI app calls only these methods (from worker threads), so it
can be tested and reasoned about without the database. ``DjangoControlPlane`` implements it with the
serving app's models and services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class VersionRef:
    """A model version as the engine loads it: under ``name``, from its artifacts (or as a baseline)."""

    id: int
    number: int
    baseline: bool
    artifacts_dir: Path | None
    base_model_id: int
    training_config: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return f"model-version-{self.id}"


@dataclass(frozen=True)
class EndpointState:
    """One active endpoint, as the data plane serves it."""

    id: int
    slug: str
    team: str
    created: int  # unix seconds
    task_type: str
    production: VersionRef
    shadow: VersionRef | None = None
    canary: VersionRef | None = None
    canary_percent: int = 0
    routing_threshold: float | None = None
    fallback: str = "none"  # review_queue | forward | none
    fallback_url: str = ""
    fallback_timeout_s: float = 30.0
    log_policy: str = "redacted"
    max_input_tokens: int = 2048
    max_tokens_cap: int = 512
    request_timeout_s: float = 30.0
    output_schema: dict | None = field(default=None, compare=False, hash=False)

    def versions(self) -> list[VersionRef]:
        return [version for version in (self.production, self.shadow, self.canary) if version is not None]


@dataclass(frozen=True)
class KeyGrant:
    """A valid key: which endpoints it may call and its rate limit."""

    id: int
    endpoints: frozenset[str]
    rate_limit_per_minute: int


@dataclass
class LogEntry:
    """One answered (or refused) request, logged after the answer left; ``row_id`` once written."""

    endpoint_id: int
    key_id: int | None
    version_id: int | None
    latency_ms: float
    status_code: int
    route: str
    confidence: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    input_text: str = ""
    output_text: str = ""
    error_code: str = ""
    shadow_of: LogEntry | None = None
    row_id: int | None = None


class ControlPlane(Protocol):
    def authenticate(self, secret: str) -> KeyGrant | None:
        """The key's grant, or None for an unknown, revoked or expired key."""
        ...

    def endpoint_states(self) -> dict[str, EndpointState]:
        """Every active endpoint that has a production version, by slug."""
        ...

    def base_model_path(self, version: VersionRef) -> Path:
        """The base model's weights folder on this machine (converted into the model cache once)."""
        ...

    def record(self, entry: LogEntry) -> int:
        """Write one request log row (redacted per the endpoint's policy); returns its id."""
        ...


class DjangoControlPlane:
    """The control plane read and written through the serving app (called from worker threads).

    ``endpoint_states`` is polled every second: it first reads a fingerprint of what it depends on (two
    small queries) and reads the endpoints in full only when that changed.
    """

    def __init__(self):
        self._fingerprint = None
        self._states: dict[str, EndpointState] = {}

    def authenticate(self, secret: str) -> KeyGrant | None:
        from serving.inference.errors import ApiError
        from studio.db import CONNECTION_ERRORS, on_a_live_connection

        try:
            return on_a_live_connection(lambda: self._authenticate(secret))
        except CONNECTION_ERRORS as error:
            raise ApiError(
                503,
                "database_unavailable",
                "The server cannot reach its database to check the key; retry in a moment.",
                retry_after=2,
            ) from error

    def _authenticate(self, secret: str) -> KeyGrant | None:
        from serving.selectors import api_key_endpoints
        from serving.services import api_key_authenticate

        key = api_key_authenticate(secret)
        if key is None:
            return None
        slugs = frozenset(api_key_endpoints(key).values_list("slug", flat=True))
        return KeyGrant(id=key.pk, endpoints=slugs, rate_limit_per_minute=key.rate_limit_per_minute)

    def _read_fingerprint(self):
        from serving.choices import EndpointStatus
        from serving.models import Endpoint
        from training.choices import Stage
        from training.models import ModelVersion

        endpoints = list(
            Endpoint.objects.filter(status=EndpointStatus.ACTIVE)
            .order_by("pk")
            .values_list("pk", "updated_at", "project_id")
        )
        projects = {project for _, _, project in endpoints}
        versions = list(
            ModelVersion.objects.filter(project_id__in=projects, stage=Stage.PRODUCTION)
            .order_by("pk")
            .values_list("pk", "project_id")
        )
        return endpoints, versions

    def endpoint_states(self) -> dict[str, EndpointState]:
        from studio.db import on_a_live_connection

        return on_a_live_connection(self._endpoint_states)

    def _endpoint_states(self) -> dict[str, EndpointState]:
        from serving.models import Endpoint
        from serving.selectors import endpoint_serving_state

        fingerprint = self._read_fingerprint()
        if fingerprint == self._fingerprint:
            return self._states
        states = {}
        for slug in Endpoint.objects.filter(pk__in=[pk for pk, _, _ in fingerprint[0]]).values_list(
            "slug", flat=True
        ):
            serving = endpoint_serving_state(slug)
            if serving is None or not serving.servable:
                continue
            endpoint, project = serving.endpoint, serving.endpoint.project
            states[slug] = EndpointState(
                id=endpoint.pk,
                slug=slug,
                team=project.team.slug,
                created=int(endpoint.created_at.timestamp()),
                task_type=project.task_type,
                production=_version_ref(serving.production),
                shadow=_version_ref(serving.shadow) if serving.shadow else None,
                canary=_version_ref(serving.canary) if serving.canary else None,
                canary_percent=serving.canary_percent,
                routing_threshold=endpoint.routing_threshold,
                fallback=endpoint.fallback,
                fallback_url=endpoint.fallback_url,
                fallback_timeout_s=endpoint.fallback_timeout_s,
                log_policy=endpoint.log_policy,
                max_input_tokens=endpoint.max_input_tokens,
                max_tokens_cap=endpoint.max_tokens_cap,
                request_timeout_s=endpoint.request_timeout_s,
                output_schema=project.output_schema or None,
            )
        self._fingerprint, self._states = fingerprint, states
        return states

    def base_model_path(self, version: VersionRef) -> Path:
        from studio.db import on_a_live_connection
        from training.execution import ensure_base_model_cached
        from training.models import BaseModel

        return on_a_live_connection(
            lambda: Path(ensure_base_model_cached(BaseModel.objects.get(pk=version.base_model_id)).path)
        )

    def record(self, entry: LogEntry) -> int:
        from studio.db import on_a_live_connection

        return on_a_live_connection(lambda: self._record(entry))

    def _record(self, entry: LogEntry) -> int:
        from serving.models import ApiKey, Endpoint, RequestLog
        from serving.services import request_log_record
        from training.models import ModelVersion

        shadow_of = entry.shadow_of.row_id if entry.shadow_of else None
        log = request_log_record(
            endpoint=Endpoint.objects.get(pk=entry.endpoint_id),
            api_key=ApiKey(pk=entry.key_id) if entry.key_id else None,
            model_version=ModelVersion(pk=entry.version_id) if entry.version_id else None,
            latency_ms=entry.latency_ms,
            status_code=entry.status_code,
            route=entry.route,
            confidence=entry.confidence,
            input_tokens=entry.input_tokens,
            output_tokens=entry.output_tokens,
            input_text=entry.input_text,
            output_text=entry.output_text,
            error_code=entry.error_code,
            shadow_of=RequestLog(pk=shadow_of) if shadow_of else None,
        )
        return log.pk


def _version_ref(version) -> VersionRef:
    from training.choices import ModelVersionKind

    return VersionRef(
        id=version.pk,
        number=version.number,
        baseline=version.kind == ModelVersionKind.BASELINE,
        artifacts_dir=version.artifacts_dir,
        base_model_id=version.base_model_id,
        training_config=dict(version.training_config or {}),
    )
