"""Browser forms for serving: publishing, endpoint settings, API keys and review corrections."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from serving.choices import EndpointStatus, Fallback, LogPolicy
from serving.models import (
    MAX_RATE_LIMIT_PER_MINUTE,
    MAX_TIMEOUT_S,
    MAX_TOKENS_LIMIT,
    Endpoint,
    slug_validator,
)
from serving.services.endpoints import TRIAL_STAGES
from serving.services.reviews import MAX_CORRECTION_CHARS
from studio.errors import ApplicationError
from studio.forms import DateTimeField, add_service_error


def add_error(form: forms.Form, error: ApplicationError | ValidationError) -> None:
    """A service's refusal shown on the form: on its fields when it names them, above them otherwise."""
    if isinstance(error, ApplicationError):
        add_service_error(form, error)
        return
    for field, messages in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, messages)


class EndpointPublishForm(forms.Form):
    project = forms.TypedChoiceField(
        coerce=int, help_text="Only projects with a production version are listed."
    )
    slug = forms.CharField(
        max_length=60,
        validators=[slug_validator],
        help_text="The name callers use (the <code>model</code> of OpenAI requests): lowercase letters, "
        "digits and hyphens.",
    )
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [(project.pk, project.name) for project in projects]


class EndpointSettingsForm(forms.Form):
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    status = forms.ChoiceField(
        choices=EndpointStatus.choices, help_text="A paused endpoint refuses requests."
    )
    routing_threshold = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="Answers with a confidence below this are escalated; empty to never escalate.",
    )
    fallback = forms.ChoiceField(choices=Fallback.choices, label="Escalated answers go to")
    fallback_url = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=500,
        label="Fallback model URL",
        help_text="An OpenAI-compatible base URL.",
    )
    fallback_timeout_s = forms.FloatField(
        min_value=0.1, max_value=MAX_TIMEOUT_S, label="Fallback timeout (s)"
    )
    shadow_version = forms.ModelChoiceField(
        queryset=None, required=False, help_text="Answers the same inputs beside production; never returned."
    )
    canary_version = forms.ModelChoiceField(queryset=None, required=False)
    canary_percent = forms.IntegerField(min_value=0, max_value=100, label="Canary share (%)")
    log_policy = forms.ChoiceField(choices=LogPolicy.choices)
    max_input_tokens = forms.IntegerField(min_value=1, max_value=MAX_TOKENS_LIMIT)
    max_tokens_cap = forms.IntegerField(
        min_value=1, max_value=MAX_TOKENS_LIMIT, label="Max tokens per answer"
    )
    request_timeout_s = forms.FloatField(min_value=0.1, max_value=MAX_TIMEOUT_S, label="Request timeout (s)")

    def __init__(self, *args, endpoint: Endpoint, **kwargs):
        from serving.services.endpoints import SETTINGS_FIELDS

        initial = {field: getattr(endpoint, field) for field in SETTINGS_FIELDS}
        super().__init__(*args, initial=initial, **kwargs)
        versions = endpoint.project.model_versions.filter(stage__in=TRIAL_STAGES).order_by("-number")
        for field in ("shadow_version", "canary_version"):
            self.fields[field].queryset = versions
            self.fields[field].label_from_instance = lambda v: f"v{v.number} ({v.get_stage_display()})"

    def changed(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.changed_data}


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="The calling service, e.g. “helpdesk-router”.")
    also_endpoints = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Other endpoints it may call",
    )
    expires_at = DateTimeField(required=False, help_text="Empty: never expires. Format 2030-01-31 17:00.")
    rate_limit_per_minute = forms.IntegerField(
        min_value=1,
        max_value=MAX_RATE_LIMIT_PER_MINUTE,
        initial=600,
        label="Rate limit (requests per minute)",
    )

    def __init__(self, *args, endpoint: Endpoint, team_endpoints, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["also_endpoints"].queryset = team_endpoints.exclude(pk=endpoint.pk)
        if not self.fields["also_endpoints"].queryset.exists():
            del self.fields["also_endpoints"]


class ReviewCorrectForm(forms.Form):
    corrected_output = forms.CharField(
        max_length=MAX_CORRECTION_CHARS, label="Correct answer", widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, labels: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if labels:
            self.fields["corrected_output"] = forms.ChoiceField(
                choices=[(label, label) for label in labels], label="Correct label"
            )
