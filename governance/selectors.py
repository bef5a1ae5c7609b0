from django.db.models import QuerySet

from governance.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_user(user).select_related("team")
