"""Admin mixins shared by every app: tenancy scoping and read-only registrations."""

from django.contrib import admin


class TeamScopedAdminMixin:
    """Staff see through the admin only what `for_user` lets them see anywhere else."""

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)


class ReadOnlyAdminMixin:
    """Viewable, filterable and searchable; never added, changed or deleted through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.site_header = "SLM Studio administration"
admin.site.site_title = "SLM Studio admin"
admin.site.index_title = "Governance console"
