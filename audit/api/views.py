from rest_framework import viewsets

from audit.api.serializers import AuditEventSerializer
from audit.filters import AuditEventFilterSet
from audit.selectors import audit_event_list


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log: read-only for everyone, scoped like every other resource."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet

    def get_queryset(self):
        return audit_event_list(user=self.request.user)
