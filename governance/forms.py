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
