from django.contrib import admin

from evaluation.models import EvalRun, EvalSpec
from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin


@admin.register(EvalSpec)
class EvalSpecAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "signed_by", "signed_at", "sha256", "created_at")
    list_filter = ("signed_at",)
    search_fields = ("project__name", "sha256", "note")
    list_select_related = ("project", "signed_by")


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "model_version",
        "spec",
        "status",
        "gates_passed",
        "attempt",
        "created_at",
    )
    list_filter = ("status", "gates_passed")
    search_fields = ("project__name", "failure_reason")
    list_select_related = ("project", "model_version__project", "spec__project")
