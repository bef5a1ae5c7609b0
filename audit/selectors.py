from django.db.models import QuerySet

from audit import chain
from audit.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_user(user).select_related("team")


def audit_chain_verify() -> chain.Verdict:
    """The whole log checked link by link (every team's events: callers show it to staff and reviewers)."""
    rows = (
        AuditEvent.objects.order_by("id")
        .values("id", "hash", "prev_hash", *chain.CHAINED_FIELDS)
        .iterator(chunk_size=2000)
    )
    return chain.verify(rows)
