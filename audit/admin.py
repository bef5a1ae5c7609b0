from django.contrib import admin

from audit.models import AuditEvent
from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "actor_label", "team", "action", "target_type", "target_id", "request_id")
    list_filter = ("action", "target_type", "team", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("actor_label", "action", "target_type", "target_id", "request_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("team",)

    def get_actions(self, request):
        return {}
