import json

from django import forms

from projects.charters import CHARTER_FIELDS
from projects.choices import (
    Automation,
    DataClass,
    DatasetKind,
    LawfulBasis,
    ReleaseCadence,
    Residency,
    Role,
    TaskType,
)
from projects.models import MAX_RETENTION_DAYS
from projects.schemas import SUCCESS_MEASURE_LIMIT
from studio import jsonbounds
from studio.forms import DateTimeField
from studio.models import MAX_POSITIVE_INTEGER


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
    expires_at = DateTimeField(
        required=False,
        label="Expires",
        help_text="Optional. Leave empty for a token that does not expire.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    can_manage_tokens = forms.BooleanField(
        required=False,
        label="May manage tokens",
        help_text="Let requests made with this token create and revoke tokens. Leave off unless an "
        "integration must rotate its own tokens.",
    )


class ProjectForm(forms.Form):
    """Create or edit a project. On edit the task type is fixed (data and evals depend on it)."""

    name = forms.CharField(max_length=120, help_text="Short and specific, e.g. “Support e-mail intents”.")
    task_type = forms.ChoiceField(
        choices=TaskType.choices,
        widget=forms.RadioSelect,
        initial=TaskType.CLASSIFICATION,
        help_text=(
            "<strong>Classification</strong>: the answer is one label from a fixed set (an intent, a queue). "
            "<strong>Extraction</strong>: the answer is a JSON object of fields found in the text. "
            "<strong>Generation</strong>: the answer is free text (a summary, a reply draft). "
            "It cannot be changed later."
        ),
    )
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control studio-prose"}),
        help_text=(
            "The system prompt that frames every request, e.g. “Classify the customer e-mail into one "
            "support intent.” Say what the input is and what a good answer looks like."
        ),
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control studio-prose"}),
        help_text="For people: who uses the model and why.",
    )
    output_schema = forms.CharField(
        required=False,
        label="Output JSON Schema",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=(
            "Extraction only, optional: a JSON Schema of type “object” that every output must satisfy, "
            'e.g. <code>{"type": "object", "properties": {"total": {"type": "number"}}, '
            '"required": ["total"]}</code>.'
        ),
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["output_schema"].shown_when = f"task_type={TaskType.EXTRACTION}"
        if editing:
            self.fields["task_type"].disabled = True
            self.fields["task_type"].required = False
            self.fields["task_type"].help_text = "Fixed when the project was created."

    def clean_output_schema(self):
        text = self.cleaned_data["output_schema"].strip()
        if not text:
            return None
        try:
            schema = jsonbounds.loads(text)
        except jsonbounds.JSONRefused as error:
            raise forms.ValidationError(error.message) from error
        except ValueError as error:
            raise forms.ValidationError(f"This is not valid JSON: {error}.") from error
        if not isinstance(schema, dict):
            raise forms.ValidationError("The schema must be a JSON object.")
        return schema

    def clean(self):
        cleaned = super().clean()
        task_type = cleaned.get("task_type") or self.initial.get("task_type")
        if cleaned.get("output_schema") is not None and task_type != TaskType.EXTRACTION:
            self.add_error("output_schema", "Only extraction projects take an output schema.")
        return cleaned

    @staticmethod
    def initial_for(project) -> dict:
        return {
            "name": project.name,
            "task_type": project.task_type,
            "instructions": project.instructions,
            "description": project.description,
            "output_schema": json.dumps(project.output_schema, indent=2) if project.output_schema else "",
        }


class CharterForm(forms.Form):
    problem_statement = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control studio-prose"}),
        help_text=(
            "What goes wrong today, for whom, and what the model changes. Tie it to the business metric "
            "below, e.g. “Agents spend 6 minutes triaging each e-mail; routing them automatically cuts "
            "the time to first response.”"
        ),
    )
    business_metric = forms.CharField(
        max_length=200,
        help_text="The number the business watches that this project should move, e.g. “median time to "
        "first response”.",
    )
    non_goals = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control studio-prose"}),
        help_text="What the model deliberately will not do, e.g. “It never replies; it only routes.”",
    )
    data_classes = forms.MultipleChoiceField(
        choices=DataClass.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Data classes allowed",
        help_text=(
            "Tick at least one: every class of data the project may process. A dataset holding a class not "
            "ticked here (for example e-mail addresses are personal data) cannot be trained on until it is "
            "redacted."
        ),
    )
    residency = forms.ChoiceField(
        choices=Residency.choices,
        help_text="Where the data and the model may be stored and run.",
    )
    automation = forms.ChoiceField(
        choices=Automation.choices,
        widget=forms.RadioSelect,
        label="Risk appetite",
        help_text="Full automation acts on every answer; human review sends answers below the confidence "
        "threshold to a person.",
    )
    confidence_threshold = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Between 0 and 1. With human review, answers below it go to a person, e.g. 0.7.",
    )
    release_cadence = forms.ChoiceField(
        choices=ReleaseCadence.choices,
        help_text="How often a new model version may reach production.",
    )
    rollback_expectation = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control studio-prose"}),
        help_text="How fast a bad release must be undone and who decides, e.g. “Within 15 minutes, by the "
        "on-call ML engineer.”",
    )
    change_note = forms.CharField(
        required=False,
        max_length=200,
        help_text="What changed in this version and why; shown in the history.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Say before submitting what the choices made require (clean() enforces the same).
        self.fields["confidence_threshold"].required_when = f"automation={Automation.HUMAN_REVIEW}"
        self.fields["data_classes"].mark_required = True

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("automation") == Automation.HUMAN_REVIEW
            and cleaned.get("confidence_threshold") is None
            and "confidence_threshold" not in self.errors  # a value refused: its own error says why
        ):
            self.add_error(
                "confidence_threshold", "Required when answers below a threshold go to human review."
            )
        return cleaned

    @staticmethod
    def initial_for(charter) -> dict:
        if charter is None:
            return {"automation": Automation.HUMAN_REVIEW, "residency": Residency.ANY}
        return {field: getattr(charter, field) for field in CHARTER_FIELDS if field != "success_measures"}


class CharterCompareForm(forms.Form):
    """The charter history's `?base=&head=` version numbers (empty: the latest and the one before)."""

    base = forms.IntegerField(required=False, min_value=1, max_value=MAX_POSITIVE_INTEGER)
    head = forms.IntegerField(required=False, min_value=1, max_value=MAX_POSITIVE_INTEGER)


class SuccessMeasureForm(forms.Form):
    metric = forms.CharField(
        max_length=80, required=False, widget=forms.TextInput(attrs={"placeholder": "accuracy"})
    )
    baseline = forms.FloatField(
        required=False,
        min_value=-SUCCESS_MEASURE_LIMIT,
        max_value=SUCCESS_MEASURE_LIMIT,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    target = forms.FloatField(
        required=False,
        min_value=-SUCCESS_MEASURE_LIMIT,
        max_value=SUCCESS_MEASURE_LIMIT,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    higher_is_better = forms.BooleanField(required=False, initial=True)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("metric"):
            if cleaned.get("baseline") is not None or cleaned.get("target") is not None:
                self.add_error("metric", "Name the metric.")
            return cleaned
        for field in ("baseline", "target"):
            if cleaned.get(field) is None and field not in self.errors:
                self.add_error(field, "Required.")
        return cleaned

    def measure(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("metric"):
            return None
        return {
            "metric": data["metric"],
            "baseline": data["baseline"],
            "target": data["target"],
            "higher_is_better": data["higher_is_better"],
        }


class BaseSuccessMeasureFormSet(forms.BaseFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if not self.measures():
            raise forms.ValidationError(
                "Add at least one success measure: a metric with its baseline and target."
            )

    def measures(self) -> list[dict]:
        return [m for m in (form.measure() for form in self.forms if form.is_valid()) if m]


SuccessMeasureFormSet = forms.formset_factory(
    SuccessMeasureForm, formset=BaseSuccessMeasureFormSet, extra=1, max_num=20, validate_max=True
)


class DatasetCardForm(forms.Form):
    purpose = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control studio-prose"}),
        help_text="What the examples are for, e.g. “Train the intent router.”",
    )
    source = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control studio-prose"}),
        help_text="Where the examples come from, e.g. “Support inbox, January to March, labelled by agents.”",
    )
    data_owner = forms.CharField(required=False, max_length=150, help_text="Who answers for this data.")
    lawful_basis = forms.ChoiceField(
        choices=LawfulBasis.choices,
        initial=LawfulBasis.NOT_PERSONAL,
        help_text="The legal ground for processing personal data in it.",
    )
    retention_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RETENTION_DAYS,
        label="Retention (days)",
        help_text="Days the data may be kept after upload; empty for no limit. Past it, no new job uses it.",
    )


class DatasetUploadForm(DatasetCardForm):
    """The upload page's fields. The browser sends them with the file to the datasets API."""

    name = forms.CharField(
        required=False, max_length=120, help_text="Defaults to the file name, e.g. “support-intents”."
    )
    kind = forms.ChoiceField(
        choices=DatasetKind.choices,
        widget=forms.RadioSelect,
        initial=DatasetKind.TRAINING,
        help_text="Training data is split into train/validation/test; a golden set is only used to evaluate.",
    )
    field_order = ["name", "kind", "purpose", "source", "data_owner", "lawful_basis", "retention_days"]


class DatasetResplitForm(forms.Form):
    seed = forms.IntegerField(
        min_value=0, max_value=MAX_POSITIVE_INTEGER, help_text="The same seed always gives the same split."
    )
