from django.contrib import admin

from serving.models import ApiKey, Endpoint, RequestLog, ReviewItem
from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("slug", "project", "status", "routing_threshold", "fallback", "log_policy", "created_at")
    list_filter = ("status", "fallback", "log_policy")
    search_fields = ("slug", "project__name", "description")
    list_select_related = ("project",)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "prefix", "team", "expires_at", "revoked_at", "last_used_at", "request_count")
    list_filter = ("team",)
    search_fields = ("name", "prefix")
    list_select_related = ("team",)
    exclude = ("secret_hash",)


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "endpoint",
        "status_code",
        "route",
        "confidence",
        "latency_ms",
        "error_code",
    )
    list_filter = ("route", "status_code")
    search_fields = ("endpoint__slug", "error_code")
    list_select_related = ("endpoint",)


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("id", "endpoint", "status", "reviewer", "reviewed_at", "exported_to")
    list_filter = ("status",)
    list_select_related = ("endpoint", "reviewer")
