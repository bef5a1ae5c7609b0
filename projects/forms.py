from django import forms

from projects.roles import Role


class TeamForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown everywhere, e.g. “Customer Support”.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class MemberAddForm(forms.Form):
    login = forms.CharField(
        label="User", max_length=254, help_text="Username or e-mail of an existing account."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class PersonalAccessTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “CI pipeline”.")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Optional. Leave empty for a token that does not expire.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
