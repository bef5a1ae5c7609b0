from django import forms

from governance.choices import ApproverRole, TargetStage


class PromotionRequestForm(forms.Form):
    target_stage = forms.ChoiceField(choices=TargetStage.choices, initial=TargetStage.PRODUCTION)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)
    accept_risk = forms.BooleanField(required=False, label="Promote despite failing gates (risk acceptance)")
    risk_reason = forms.CharField(required=False, max_length=2000, label="Why the risk is accepted")
    risk_until = forms.DateField(
        required=False, label="Accepted until", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Asked for, and said to be required, only once the risk is to be accepted (clean() enforces it).
        for name in ("risk_reason", "risk_until"):
            self.fields[name].required_when = self.fields[name].shown_when = "accept_risk=on"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("accept_risk"):
            if not cleaned.get("risk_reason", "").strip():
                self.add_error("risk_reason", "Say why the risk is accepted.")
            if not cleaned.get("risk_until") and "risk_until" not in self.errors:
                self.add_error("risk_until", "Say until when the risk is accepted.")
        return cleaned


class ApproveForm(forms.Form):
    role = forms.ChoiceField(choices=ApproverRole.choices, required=False)
    comment = forms.CharField(required=False, max_length=2000)


class RejectForm(forms.Form):
    comment = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class RollbackForm(forms.Form):
    reason = forms.CharField(max_length=2000)


class ModelCardForm(forms.Form):
    intended_use = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=10_000
    )
    limitations = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=10_000, label="Known limitations"
    )
