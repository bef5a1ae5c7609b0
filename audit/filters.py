import django_filters

from audit.models import AuditEvent
from studio.api.filters import IsoDateTimeFilter


class AuditEventFilterSet(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    action = django_filters.CharFilter(
        field_name="action",
        lookup_expr="startswith",
        max_length=AuditEvent._meta.get_field("action").max_length,
    )
    since = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")

    class Meta:
        model = AuditEvent
        fields = ["team", "action", "target_type", "target_id", "since"]
