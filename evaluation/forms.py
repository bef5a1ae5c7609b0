"""Browser forms for eval specs and runs. A spec's gates, layers and cases are JSON documents (the same
shape as the API's), pre-filled so that a product owner edits rather than writes them."""

from __future__ import annotations

import json

from django import forms

from studio import jsonbounds

JSON_HELP = "JSON, the same shape as the API's eval-specs body."


class JSONDocumentField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 8, "class": "font-monospace", "spellcheck": "false"})

    def __init__(self, *, expected: type, **kwargs):
        self.expected = expected
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return value if isinstance(value, str) else json.dumps(value, indent=2)

    def to_python(self, value):
        text = super().to_python(value).strip()
        if not text:
            return self.expected()
        try:
            parsed = jsonbounds.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}") from error
        if not isinstance(parsed, self.expected):
            raise forms.ValidationError(f"Expected a JSON {'list' if self.expected is list else 'object'}.")
        return parsed


class EvalSpecForm(forms.Form):
    gates = JSONDocumentField(
        expected=list,
        required=False,
        help_text='Each gate: metric, comparator (>= or <=), threshold, slice ("all" or e.g. "label:refund"),'
        ' kind "threshold" or "regression" (max_drop against production). Pre-filled from the charter.',
    )
    layers = JSONDocumentField(
        expected=dict,
        required=False,
        help_text="regression (dataset_version: its test split), stress (perturbations, out-of-domain, messy"
        " inputs) and policy (built-in probes, your own probes).",
    )
    cases = JSONDocumentField(
        expected=list, required=False, help_text='Your own cases: [{"input", "expected", "tags"}].'
    )
    note = forms.CharField(max_length=200, required=False, help_text="What changed in this version.")

    def document(self) -> dict:
        data = self.cleaned_data
        document = {"layers": data["layers"], "cases": data["cases"]}
        if data["gates"]:
            document["gates"] = data["gates"]
        return document


class EvalRunForm(forms.Form):
    # Laid out inline by the evaluation page, outside includes/form.html: the widgets carry their class.
    model_version = forms.TypedChoiceField(
        coerce=int, label="Model version", widget=forms.Select(attrs={"class": "form-select"})
    )
    spec = forms.TypedChoiceField(
        coerce=int, label="Signed eval spec", widget=forms.Select(attrs={"class": "form-select"})
    )

    def __init__(self, *args, versions, specs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = [
            (v.pk, f"{v.label} · {v.get_stage_display()}") for v in versions
        ]
        self.fields["spec"].choices = [(s.pk, f"v{s.version} (signed {s.signed_at:%Y-%m-%d})") for s in specs]
