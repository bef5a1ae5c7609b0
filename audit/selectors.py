from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_user(user).select_related("team")
