from django import forms
from django.contrib import admin

from studio.admin import ReadOnlyAdminMixin, TeamScopedAdminMixin
from training.models import BaseModel, ModelVersion, TrainingJob


class BaseModelRegisterForm(forms.ModelForm):
    path = forms.CharField(
        label="Local folder",
        max_length=BaseModel._meta.get_field("source").max_length,
        help_text="A Hugging Face-format folder (config, tokenizer, weights) on storage the workers share.",
    )

    class Meta:
        model = BaseModel
        fields = ["name"]

    def clean_path(self):
        from pathlib import Path

        from training.engine.base_models import validate_hf_folder
        from training.engine.errors import BaseModelInvalid

        try:
            validate_hf_folder(Path(self.cleaned_data["path"]))
        except BaseModelInvalid as error:
            raise forms.ValidationError(str(error)) from error
        return self.cleaned_data["path"]


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    """The catalog. Adding one registers a validated local folder; only `is_active` changes afterwards."""

    list_display = (
        "name",
        "key",
        "source_type",
        "architecture",
        "parameter_count",
        "cached_at",
        "is_default",
        "is_active",
    )
    list_filter = ("source_type", "is_active")
    search_fields = ("name", "key")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = BaseModelRegisterForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["name", "path"] if obj is None else [f.name for f in BaseModel._meta.fields if f.name != "id"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in BaseModel._meta.fields if f.name not in ("id", "is_active")]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        from training.services import base_model_register_folder

        registered = base_model_register_folder(
            user=request.user, name=form.cleaned_data["name"], path=form.cleaned_data["path"]
        )
        obj.pk = registered.pk
        obj.__dict__.update(registered.__dict__)


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "status",
        "base_model",
        "preset",
        "step",
        "total_steps",
        "attempt",
        "created_at",
    )
    list_filter = ("status", "preset", "base_model")
    search_fields = ("project__name", "failure_reason")
    list_select_related = ("project", "base_model")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "kind", "stage", "base_model", "created_at")
    list_filter = ("kind", "stage")
    search_fields = ("project__name", "description")
    list_select_related = ("project", "base_model")
