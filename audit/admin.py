from django.contrib import admin
from django.http import Http404, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from audit import exports
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin
from studio.tenancy import sees_every_team


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    """The audit log, filterable, exportable (CSV, JSON Lines) with its chain, and verifiable."""

    list_display = ("occurred_at", "actor_label", "team", "action", "target_type", "target_id", "request_id")
    list_filter = (
        "action",
        "target_type",
        "team",
        "actor_label",
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = ("actor_label", "action", "target_type", "target_id", "request_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("team",)
    change_list_template = "admin/audit/auditevent/change_list.html"

    def get_actions(self, request):
        return {}

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("verify/", wrap(self.verify_view), name="audit_auditevent_verify"),
            path("export/<str:fmt>/", wrap(self.export_view), name="audit_auditevent_export"),
            *super().get_urls(),
        ]

    def verify_view(self, request):
        """The chain checked end to end, with the first broken link; whole-log, so for every-team readers."""
        if not (self.has_view_permission(request) and sees_every_team(request.user)):
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Audit chain verification",
            "verdict": audit_chain_verify(),
        }
        return TemplateResponse(request, "admin/audit/auditevent/verify.html", context)

    def export_view(self, request, fmt: str):
        """The change list's events (its filters and search applied) in chain order, with their hashes."""
        if fmt not in exports.FORMATS or not self.has_view_permission(request):
            raise Http404
        events = self.get_changelist_instance(request).get_queryset(request)
        response = StreamingHttpResponse(exports.lines(events, fmt), content_type=exports.FORMATS[fmt])
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
        return response
