"""Browser forms for training: the new-job form (preset plus every hyperparameter), filters, model edits."""

from __future__ import annotations

from annotated_types import Ge, Gt, Le, Lt
from django import forms

from projects.choices import DatasetKind
from projects.policy import training_block_reasons
from projects.selectors import charter_latest, dataset_version_list
from studio.errors import ApplicationError
from studio.forms import add_service_error
from training.choices import JobStatus, Method, Preset
from training.engine.config import PRESETS, Hyperparameters, resolve_preset

# One line each, shown beside the preset choice.
PRESET_EXPLANATIONS = {
    Preset.QUICK: "A first look in a few minutes: fewer epochs, a small adapter, short sequences.",
    Preset.BALANCED: "The default: enough epochs and capacity to reach the studio's quality target on CPU.",
    Preset.THOROUGH: "More epochs and a larger adapter, with early stopping; best on GPU workers.",
}

# The Advanced section: every hyperparameter, in the order an engineer reads them.
HYPERPARAMETER_FIELDS: dict[str, tuple[str, str]] = {
    "epochs": ("Epochs", "Passes over the training split (fractions allowed)."),
    "max_steps": ("Max steps", "Optimizer steps in total; when set, it wins over epochs."),
    "learning_rate": ("Learning rate", "Peak learning rate, e.g. 0.001."),
    "lr_scheduler": ("Learning-rate schedule", "How the rate decays after warmup."),
    "warmup_ratio": ("Warmup ratio", "Share of the steps spent ramping the rate up."),
    "batch_size": ("Batch size", "Examples per forward pass; lower it when a worker runs out of memory."),
    "gradient_accumulation_steps": ("Gradient accumulation", "Batches summed into one optimizer step."),
    "max_seq_length": ("Max sequence length", "Tokens per example; longer ones are truncated."),
    "lora_r": ("LoRA r", "Rank of the adapter matrices."),
    "lora_alpha": ("LoRA alpha", "Scale of the adapter's update (often twice r)."),
    "lora_dropout": ("LoRA dropout", "Dropout inside the adapter, between its two small matrices."),
    "lora_target_modules": (
        "LoRA target modules",
        "“all-linear”, or module names separated by commas (q_proj, v_proj).",
    ),
    "weight_decay": ("Weight decay", "L2 penalty of the optimizer."),
    "label_smoothing": (
        "Label smoothing",
        "Share of each answer token's target spread over the vocabulary; keeps the model from memorising.",
    ),
    "embedding_noise": (
        "Embedding noise",
        "NEFTune alpha: random noise on the input embeddings while training (5 is typical; 0 for none).",
    ),
    "seed": ("Seed", "Makes the run repeatable."),
    "eval_interval_steps": ("Evaluation interval", "Steps between validation-loss measurements."),
    "early_stopping_patience": (
        "Early stopping patience",
        "Evaluations without improvement before training stops; empty to never stop early.",
    ),
    "checkpoint_interval_steps": ("Checkpoint interval", "Steps between resumable checkpoints."),
}
RESOLVED_SHOWN = [
    "epochs",
    "learning_rate",
    "lr_scheduler",
    "batch_size",
    "lora_r",
    "lora_alpha",
    "max_seq_length",
    "eval_interval_steps",
    "checkpoint_interval_steps",
    "early_stopping_patience",
]


def _bounds(name: str) -> dict[str, str]:
    """min/max attributes (and a step) for a number input, read from the pydantic field's constraints."""
    attrs: dict[str, str] = {}
    for constraint in Hyperparameters.model_fields[name].metadata:
        if isinstance(constraint, Ge | Gt):
            attrs["min"] = str(getattr(constraint, "ge", getattr(constraint, "gt", None)))
        if isinstance(constraint, Le | Lt):
            attrs["max"] = str(getattr(constraint, "le", getattr(constraint, "lt", None)))
    return attrs


def _hyperparameter_field(name: str) -> forms.Field:
    label, help_text = HYPERPARAMETER_FIELDS[name]
    if name == "lr_scheduler":
        choices = [
            ("", "Preset's choice"),
            ("linear", "Linear"),
            ("cosine", "Cosine"),
            ("constant", "Constant"),
        ]
        return forms.ChoiceField(label=label, help_text=help_text, required=False, choices=choices)
    if name == "lora_target_modules":
        return forms.CharField(label=label, help_text=help_text, required=False, max_length=500)
    annotation = str(Hyperparameters.model_fields[name].annotation)
    field_class = forms.IntegerField if "int" in annotation else forms.FloatField
    attrs = {**_bounds(name), "step": "1" if field_class is forms.IntegerField else "any"}
    return field_class(
        label=label, help_text=help_text, required=False, widget=forms.NumberInput(attrs=attrs)
    )


class FieldGroup:
    """A slice of a form that templates/includes/form.html can render on its own."""

    def __init__(self, form: forms.Form, names: list[str], *, with_errors: bool):
        self.form, self.names, self.with_errors = form, names, with_errors

    def visible_fields(self):
        return [self.form[name] for name in self.names]

    def hidden_fields(self):
        return [field for field in self.form.hidden_fields()] if self.with_errors else []

    def non_field_errors(self):
        return self.form.non_field_errors() if self.with_errors else []


class SelectWithDisabled(forms.Select):
    """A select whose options listed in `disabled` cannot be chosen (their value maps to the reason)."""

    def __init__(self, *args, disabled: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.disabled = disabled or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        reason = self.disabled.get(str(value))
        if reason:
            option["attrs"]["disabled"] = True
            option["attrs"]["title"] = reason
        return option


class TrainingJobForm(forms.Form):
    """The new-job form. A preset fills every hyperparameter; filled Advanced fields override it."""

    MAIN = ["project", "dataset_version", "base_model", "method", "preset"]

    project = forms.TypedChoiceField(coerce=int, label="Project")
    dataset_version = forms.TypedChoiceField(
        coerce=int, label="Dataset version", help_text="Training datasets of the project."
    )
    base_model = forms.ModelChoiceField(queryset=None, to_field_name="key", empty_label=None)
    method = forms.ChoiceField(choices=Method.choices, initial=Method.LORA, widget=forms.RadioSelect)
    preset = forms.ChoiceField(initial=Preset.BALANCED, widget=forms.RadioSelect)

    def __init__(self, *args, user, project, projects, base_models, preselect=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["project"].choices = [(p.pk, p.name) for p in projects]
        self.fields["project"].initial = project.pk
        self.fields["project"].widget.attrs["data-navigate-param"] = "project"

        charter = charter_latest(project=project)
        versions = list(
            dataset_version_list(user=user)
            .filter(dataset__project=project, dataset__kind=DatasetKind.TRAINING)
            .order_by("dataset__name", "-number")
        )
        self.versions = {version.pk: version for version in versions}
        self.blocked = {
            version.pk: reasons
            for version in versions
            if (reasons := training_block_reasons(version, charter=charter))
        }
        self.fields["dataset_version"].choices = [
            (
                version.pk,
                f"{version.dataset.name} v{version.number} · "
                f"{version.split_counts.get('train', 0)} training rows"
                + (" — blocked" if version.pk in self.blocked else ""),
            )
            for version in versions
        ]
        self.fields["dataset_version"].widget = SelectWithDisabled(
            choices=self.fields["dataset_version"].choices,
            disabled={str(pk): " ".join(reasons) for pk, reasons in self.blocked.items()},
        )
        usable = [version.pk for version in versions if version.pk not in self.blocked]
        preselect = str(preselect or "")
        chosen = int(preselect) if preselect.isdigit() and len(preselect) < 19 else None
        self.fields["dataset_version"].initial = (
            chosen if chosen in usable else (usable[0] if usable else None)
        )

        self.fields["base_model"].queryset = base_models
        self.fields["base_model"].initial = next((m.key for m in base_models if m.is_default), None)
        self.fields["preset"].choices = [
            (value, f"{label.split(' — ')[0]} — {PRESET_EXPLANATIONS[value]}")
            for value, label in Preset.choices
            if value != Preset.CUSTOM
        ]
        for name in HYPERPARAMETER_FIELDS:
            self.fields[name] = _hyperparameter_field(name)

    @property
    def main_group(self) -> FieldGroup:
        return FieldGroup(self, self.MAIN, with_errors=True)

    @property
    def advanced_group(self) -> FieldGroup:
        return FieldGroup(self, list(HYPERPARAMETER_FIELDS), with_errors=False)

    @property
    def advanced_has_values_or_errors(self) -> bool:
        if not self.is_bound:
            return False
        return any(
            self.data.get(name) not in (None, "") or self[name].errors for name in HYPERPARAMETER_FIELDS
        )

    def clean_dataset_version(self):
        pk = self.cleaned_data["dataset_version"]
        if pk in self.blocked:
            raise forms.ValidationError(self.blocked[pk])
        return self.versions[pk]

    def clean_lora_target_modules(self):
        value = self.cleaned_data["lora_target_modules"].strip()
        if not value or value == "all-linear":
            return value or None
        return [name.strip() for name in value.split(",")]

    def hyperparameter_overrides(self) -> dict:
        """The Advanced fields the user filled in: they override the preset's values."""
        return {
            name: self.cleaned_data[name]
            for name in HYPERPARAMETER_FIELDS
            if self.cleaned_data.get(name) not in (None, "")
        }

    def add_service_error(self, error: ApplicationError) -> None:
        """Place `hyperparameters.<field>` details (and any other field the service names) on their fields."""
        details = error.details if isinstance(error.details, dict) else {}
        placed = False
        for key, messages in details.items():
            name = key.removeprefix("hyperparameters.").split(".")[0]
            if name in self.fields:
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(name, str(message))
                placed = True
        if error.code == "dataset_blocked_by_policy":
            self.add_error("dataset_version", error.message)
        elif not placed:
            add_service_error(self, error)

    def selected(self, name: str):
        """The value of a field as the page shows it now (submitted, else initial)."""
        value = self.data.get(name) if self.is_bound else None
        return str(value if value not in (None, "") else self.fields[name].initial or "")

    def resolved_rows(self) -> list[tuple[str, object]]:
        """The selected preset's settings for the selected dataset version, as (label, value) rows."""
        values = (
            self.resolved_presets().get(self.selected("dataset_version"), {}).get(self.selected("preset"))
        )
        if not values:
            return []
        return [(HYPERPARAMETER_FIELDS[key][0], values.get(key)) for key in RESOLVED_SHOWN]

    def resolved_presets(self) -> dict[str, dict[str, dict]]:
        """For each dataset version and preset, the settings it resolves to (shown beside the form)."""
        if hasattr(self, "_resolved"):
            return self._resolved
        resolved: dict[str, dict[str, dict]] = {}
        for pk, version in self.versions.items():
            n_train = version.split_counts.get("train", 0)
            resolved[str(pk)] = {
                name: {
                    key: value
                    for key, value in resolve_preset(
                        name, n_train_examples=max(n_train, 1), device_type="cpu"
                    )
                    .model_dump(mode="json")
                    .items()
                    if key in RESOLVED_SHOWN
                }
                for name in PRESETS
            }
        self._resolved = resolved
        return resolved


class JobFilterForm(forms.Form):
    project = forms.TypedChoiceField(coerce=int, required=False, label="Project")
    status = forms.ChoiceField(required=False, label="Status")

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "All projects"), *((p.pk, p.name) for p in projects)]
        self.fields["status"].choices = [("", "Any status"), *JobStatus.choices]


class ModelFilterForm(forms.Form):
    project = forms.TypedChoiceField(coerce=int, required=False, label="Project")

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "All projects"), *((p.pk, p.name) for p in projects)]


class ModelVersionForm(forms.Form):
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "class": "studio-prose"})
    )
    tags = forms.CharField(required=False, max_length=500, help_text="Separated by commas.")

    def clean_tags(self) -> list[str]:
        tags = [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]
        too_long = [tag for tag in tags if len(tag) > 40]
        if too_long:
            raise forms.ValidationError(f"Tags are at most 40 characters: “{too_long[0]}” is longer.")
        return tags
