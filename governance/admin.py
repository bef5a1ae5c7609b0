"""The governance reviewers' console: the queue of requests (approve, reject with a comment), the evidence
rendered readably, and read-only registers of stages, model cards and approvals. Nothing a reviewer
judges can be edited here; decisions go through the same services as the UI and API."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance import selectors, services, tiers
from governance.evidence import failing_gates
from governance.models import Approval, ModelCard, PromotionRequest, StageChange, TierPolicy
from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin
from studio.errors import ApplicationError


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    fields = ("approver_name", "role_label", "comment", "created_at", "voided_at", "void_reason")
    readonly_fields = fields

    @admin.display(description="approver")
    def approver_name(self, obj):
        return obj.approver.get_username()

    @admin.display(description="role")
    def role_label(self, obj):
        return tiers.role_label(obj.role)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RejectForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)


class PendingFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("mine", "I can approve now")]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(pk__in=[p.pk for p in selectors.inbox_promotions(user=request.user)])
        return queryset


@admin.register(PromotionRequest)
class PromotionRequestAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    """The queue: every team's requests for reviewers; approve and reject through the services."""

    list_display = (
        "id",
        "project",
        "version_number",
        "target_stage",
        "tier",
        "status",
        "requested_by",
        "waiting_for",
        "created_at",
    )
    list_filter = ("status", PendingFilter, "tier", "target_stage", "project__team")
    search_fields = ("project__name", "requested_by__username", "reason")
    list_select_related = ("project__team", "model_version", "requested_by")
    date_hierarchy = "created_at"
    actions = ["approve_selected", "reject_selected"]
    inlines = [ApprovalInline]
    change_form_template = "admin/governance/promotionrequest/change_form.html"
    fields = (
        "project",
        "model_version",
        "target_stage",
        "status",
        "tier",
        "tier_reasons_list",
        "required_role_labels",
        "reason",
        "risk_acceptance",
        "requester",
        "decider",
        "decided_at",
        "decision_comment",
        "evidence_rendered",
        "lineage_rendered",
    )
    readonly_fields = fields

    @admin.display(description="version")
    def version_number(self, obj):
        return f"v{obj.model_version.number}"

    @admin.display(description="waiting for")
    def waiting_for(self, obj):
        return ", ".join(obj.missing_role_labels()) if obj.is_pending else "—"

    @admin.display(description="required roles")
    def required_role_labels(self, obj):
        return ", ".join(tiers.role_label(role) for role in obj.required_roles)

    # People by name, not as links to the user admin, which a governance reviewer may not open (403).
    @admin.display(description="requested by")
    def requester(self, obj):
        return obj.requested_by.get_username()

    @admin.display(description="decided by")
    def decider(self, obj):
        return obj.decided_by.get_username() if obj.decided_by else "—"

    @admin.display(description="why this tier")
    def tier_reasons_list(self, obj):
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((r,) for r in obj.tier_reasons))
        )

    @admin.display(description="evidence")
    def evidence_rendered(self, obj):
        return render_to_string(
            "governance/includes/evidence.html",
            {
                "evidence": obj.evidence,
                "failing": failing_gates(obj.evidence) if obj.evidence.get("eval_run") else [],
            },
        )

    @admin.display(description="lineage")
    def lineage_rendered(self, obj):
        lineage = obj.evidence.get("lineage") or obj.model_version.lineage or {}
        return format_html(
            "<dl>{}</dl>",
            format_html_join(
                "",
                "<dt>{}</dt><dd><code>{}</code></dd>",
                sorted((k, str(v)[:300]) for k, v in lineage.items()),
            ),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("approvals")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", wrap(self.approve_view), name="governance_promotionrequest_approve"),
            path("<int:pk>/reject/", wrap(self.reject_view), name="governance_promotionrequest_reject"),
            *super().get_urls(),
        ]

    def _get(self, request, pk):
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def _back(self, promotion):
        return HttpResponseRedirect(reverse("admin:governance_promotionrequest_change", args=[promotion.pk]))

    def approve_view(self, request, pk: int):
        promotion = self._get(request, pk)
        if request.method == "POST":
            try:
                approved = services.promotion_approve(
                    promotion=promotion, user=request.user, comment=request.POST.get("comment", "")[:2000]
                )
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(
                    request, f"Request #{promotion.pk} — {approved.approval_outcome()}", messages.SUCCESS
                )
        return self._back(promotion)

    def reject_view(self, request, pk: int):
        promotion = self._get(request, pk)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.promotion_reject(
                    promotion=promotion, user=request.user, comment=form.cleaned_data["comment"]
                )
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, f"Request #{promotion.pk} rejected.", messages.SUCCESS)
            return self._back(promotion)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Reject request #{promotion.pk}",
            "promotions": [promotion],
            "form": form,
            "action_url": reverse("admin:governance_promotionrequest_reject", args=[promotion.pk]),
        }
        return TemplateResponse(request, "admin/governance/promotionrequest/reject.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        promotion = self._get(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_approve": bool(selectors.roles_user_can_fill(request.user, promotion)),
            "can_reject": promotion.is_pending
            and request.user.pk != promotion.requested_by_id
            and any(selectors.can_act_as(request.user, promotion, r) for r in promotion.required_roles),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Approve the selected requests", permissions=["view"])
    def approve_selected(self, request, queryset):
        for promotion in queryset:
            try:
                approved = services.promotion_approve(promotion=promotion, user=request.user)
            except ApplicationError as error:
                self.message_user(request, f"#{promotion.pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"#{promotion.pk} — {approved.approval_outcome()}", messages.SUCCESS
                )

    @admin.action(description="Reject the selected requests (with a comment)", permissions=["view"])
    def reject_selected(self, request, queryset):
        form = RejectForm(request.POST if "comment" in request.POST else None)
        if form.is_bound and form.is_valid():
            for promotion in queryset:
                try:
                    services.promotion_reject(
                        promotion=promotion, user=request.user, comment=form.cleaned_data["comment"]
                    )
                except ApplicationError as error:
                    self.message_user(request, f"#{promotion.pk}: {error.message}", messages.ERROR)
                else:
                    self.message_user(request, f"#{promotion.pk} rejected.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Reject requests",
            "promotions": list(queryset),
            "form": form,
            "action_url": "",
            "bulk": True,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/governance/promotionrequest/reject.html", context)


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "project",
        "model_version",
        "from_stage",
        "to_stage",
        "kind",
        "actor",
        "duration_ms",
    )
    list_filter = ("kind", "to_stage", "project__team")
    list_select_related = ("project", "model_version", "actor")


@admin.register(ModelCard)
class ModelCardAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("model_version", "status", "approved_by", "approved_at", "updated_at")
    list_filter = ("status",)
    readonly_fields = ("markdown",)

    @admin.display(description="Markdown")
    def markdown(self, obj):
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", services.model_card_markdown(obj))


@admin.register(TierPolicy)
class TierPolicyAdmin(admin.ModelAdmin):
    """Staff edit the global policy here (team owners make theirs stricter on the policy page)."""

    list_display = ("__str__", "automatic_tier0", "updated_by", "updated_at")

    def has_module_permission(self, request):
        return request.user.is_staff and (request.user.is_superuser or super().has_module_permission(request))

    def save_model(self, request, obj, form, change):
        if obj.team_id:
            services.tier_policy_set_team(
                team=obj.team, user=request.user, roles=obj.roles, automatic_tier0=obj.automatic_tier0
            )
        else:
            services.tier_policy_set_global(
                user=request.user, roles=obj.roles, automatic_tier0=obj.automatic_tier0
            )
