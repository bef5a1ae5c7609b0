"""The request log, written by the inference process once per answered (or refused) request."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_event_record
from projects.ingest.pii import redact_text
from serving.choices import Fallback, LogPolicy, Route
from serving.models import ApiKey, Endpoint, RequestLog, ReviewItem
from training.models import ModelVersion

# Logged text beyond this is cut: the log is for review and monitoring, not an archive of payloads.
MAX_LOGGED_CHARS = 20_000


def logged_text(endpoint: Endpoint, text: str) -> str:
    """`text` as the endpoint's log policy allows it to be stored: PII redacted, or nothing at all."""
    if endpoint.log_policy == LogPolicy.NONE or not text:
        return ""
    return redact_text(text[:MAX_LOGGED_CHARS].replace("\x00", ""))


@transaction.atomic
def request_log_record(
    *,
    endpoint: Endpoint,
    status_code: int,
    route: str = Route.ANSWER,
    api_key: ApiKey | None = None,
    model_version: ModelVersion | None = None,
    latency_ms: float = 0.0,
    confidence: float | None = None,
    input_tokens: int = 0,
    output_tokens: int = 0,
    input_text: str = "",
    output_text: str = "",
    error_code: str = "",
    shadow_of: RequestLog | None = None,
    created_at: datetime | None = None,
) -> RequestLog:
    """Log one request with its routing decision; an escalation to the review queue opens a review item,
    and the key's usage is counted.

    The request log is its own record of data-plane traffic, so no audit event is written per request
    (the audit log records control-plane actions: publishing, keys, reviews)."""
    log = RequestLog(
        endpoint=endpoint,
        api_key=api_key,
        model_version=model_version,
        shadow_of=shadow_of,
        created_at=created_at or timezone.now(),
        latency_ms=max(0.0, float(latency_ms)),
        status_code=status_code,
        route=route,
        confidence=confidence,
        input_tokens=max(0, input_tokens),
        output_tokens=max(0, output_tokens),
        input_text=logged_text(endpoint, input_text),
        output_text=logged_text(endpoint, output_text),
        error_code=error_code[:60],
    )
    log.full_clean()
    log.save()
    if route == Route.ESCALATE and endpoint.fallback == Fallback.REVIEW_QUEUE and log.succeeded:
        ReviewItem.objects.create(request_log=log, endpoint=endpoint)
    if api_key is not None and route != Route.SHADOW:
        ApiKey.objects.filter(pk=api_key.pk).update(
            request_count=F("request_count") + 1, last_used_at=log.created_at
        )
    return log


@transaction.atomic
def request_logs_purge(*, older_than_days: int | None = None, now: datetime | None = None) -> int:
    """Delete the request log past its retention (STUDIO_SERVING_LOG_RETENTION_DAYS by default), with the
    review items of those requests; the rows already added to a dataset version live on there. Returns how
    many requests were deleted (audited when any were)."""
    days = settings.STUDIO_SERVING_LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    # Shadows first (they point at the answers they shadowed); counts are of requests, not review items.
    label = RequestLog._meta.label
    total = 0
    for stale in (RequestLog.objects.filter(shadow_of__isnull=False), RequestLog.objects.all()):
        _, by_model = stale.filter(created_at__lt=cutoff).delete()
        total += by_model.get(label, 0)
    if total:
        audit_event_record(
            actor=None,
            action="request_log.purge",
            payload={"cutoff": cutoff.isoformat(), "retention_days": days, "deleted_rows": total},
        )
    return total
