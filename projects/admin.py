from django.contrib import admin

from projects.models import Membership, PersonalAccessToken, Team
from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Team)
class TeamAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    """Teams are changed in the studio (audited services); the console shows them."""

    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "team", "role", "created_at")
    list_filter = ("role", "team")
    search_fields = ("user__username", "user__email", "team__name")
    list_select_related = ("user", "team")


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "token_prefix",
        "status",
        "can_manage_tokens",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    search_fields = ("name", "user__username", "token_prefix")
    exclude = ("token_hash",)
    list_select_related = ("user",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user_id=request.user.pk)
