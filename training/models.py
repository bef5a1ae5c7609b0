"""The base-model catalog, training jobs with their lease and events, and immutable model versions."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.leases import LeasedModel
from studio.models import TeamOwnedModel, TimeStampedModel
from training.choices import (
    TERMINAL_STATUSES,
    BaseModelSource,
    EventLevel,
    JobStatus,
    Method,
    ModelVersionKind,
    Preset,
    Stage,
)


class BaseModelQuerySet(models.QuerySet):
    def for_user(self, user) -> BaseModelQuerySet:
        """The catalog is shared by every team; anyone signed in may read it."""
        return self.all() if getattr(user, "is_authenticated", False) else self.none()


class BaseModel(TimeStampedModel):
    """A model the studio can fine-tune: the bundled SmolLM2 or a registered local folder."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=120)
    source_type = models.CharField(max_length=20, choices=BaseModelSource.choices)
    source = models.CharField(
        max_length=500, blank=True, help_text="Folder path or hub id; empty when bundled."
    )
    architecture = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(null=True, blank=True)
    context_length = models.PositiveIntegerField(null=True, blank=True)
    source_checksum = models.CharField(max_length=64, blank=True)
    weights_checksum = models.CharField(max_length=64, blank=True)
    cached_at = models.DateTimeField(
        null=True, blank=True, help_text="When the converted weights were cached."
    )
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = BaseModelQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="base_model_single_default",
                violation_error_message="Only one base model can be the default.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TrainingJob(TeamOwnedModel, LeasedModel):
    """One fine-tuning run: queued → running → succeeded | failed | cancelled; a running job belongs to
    exactly one worker, the holder of its lease (`studio.leases`), until the lease lapses."""

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="training_jobs")
    dataset_version = models.ForeignKey("projects.DatasetVersion", on_delete=models.PROTECT, related_name="+")
    charter = models.ForeignKey("projects.Charter", null=True, on_delete=models.PROTECT, related_name="+")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="training_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.LORA)
    preset = models.CharField(max_length=20, choices=Preset.choices, default=Preset.BALANCED)
    hyperparameters = models.JSONField(help_text="The validated hyperparameters, as stored.")

    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Progress, persisted every few seconds while running.
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0)
    train_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    val_loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    last_checkpoint_step = models.PositiveIntegerField(null=True, blank=True)
    hardware = models.JSONField(default=dict, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    failure_hint = models.CharField(max_length=300, blank=True)
    failure_traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Job #{self.pk} ({self.get_status_display()})"

    @property
    def status_choice(self) -> JobStatus:
        """The status with its label and colour, for badges and progress bars."""
        return JobStatus(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def progress_fraction(self) -> float:
        if self.status == JobStatus.SUCCEEDED:
            return 1.0
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def work_dir(self):
        return settings.ARTIFACTS_DIR / "jobs" / str(self.pk)


class TrainingJobEvent(models.Model):
    """A line in a job's event list (like OpenAI's fine-tuning job events)."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    level = models.CharField(max_length=10, choices=EventLevel.choices, default=EventLevel.INFO)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


class TrainingMetricPoint(models.Model):
    """One point of a job's curves: train loss per logged step, validation loss per evaluation."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    train_loss = models.FloatField(null=True, blank=True)
    val_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["step", "id"]
        indexes = [models.Index(fields=["job", "step"], name="metric_point_job_step_idx")]

    def __str__(self) -> str:
        return f"step {self.step}"


@dataclass(frozen=True)
class ValidationScore:
    metric: str  # accuracy or exact_match
    value: float
    examples: int | None

    @property
    def metric_label(self) -> str:
        return "Accuracy" if self.metric == "accuracy" else "Exact match"


class ModelVersion(TeamOwnedModel):
    """An immutable trained (or baseline) model with its lineage; only description and tags may change."""

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="model_versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(
        max_length=20, choices=ModelVersionKind.choices, default=ModelVersionKind.FINE_TUNED
    )
    training_job = models.OneToOneField(
        TrainingJob, null=True, blank=True, on_delete=models.PROTECT, related_name="model_version"
    )
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="+")
    dataset_version = models.ForeignKey(
        "projects.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    storage_name = models.CharField(
        max_length=100, blank=True, help_text="Artifacts folder (server-generated)."
    )
    artifacts = models.JSONField(default=list, blank=True, help_text="[{path, size, sha256}] of every file.")
    training_config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    sample_predictions = models.JSONField(
        default=list,
        blank=True,
        help_text="Answers to a few validation inputs when registered, to check reloads.",
    )
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.CANDIDATE)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number"],
                name="model_version_unique_number",
                violation_error_message="This model version number already exists in the project.",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(stage="production"),
                name="model_version_one_production_per_project",
                violation_error_message="A project has exactly one production version.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} model v{self.number}"

    @property
    def label(self) -> str:
        """How pages name the version: “v3”, or “Baseline” (the prompted base model is not a trained v1)."""
        if self.kind == ModelVersionKind.BASELINE:
            return "Baseline" if self.number == 0 else f"Baseline v{self.number}"
        return f"v{self.number}"

    @property
    def stage_choice(self) -> Stage:
        """The stage with its label and colour, for badges."""
        return Stage(self.stage)

    @property
    def validation_score(self) -> ValidationScore | None:
        """The version's one validation figure, wherever a page shows one: the job's closing assessment
        (every label scored whole, as the endpoint answers) where it made one, else the last check during
        training (greedy decoding, which can differ on a handful of examples)."""
        metrics = self.metrics or {}
        assessment = metrics.get("assessment") or {}
        validation = assessment.get("validation") or {}
        comparison = assessment.get("comparison")
        examples = validation.get("examples") or metrics.get("val_examples")
        metric = comparison["metric"] if comparison else None
        for name in (metric, "accuracy", "exact_match"):
            if name and validation.get(name) is not None:
                return ValidationScore(name, validation[name], examples)
        for name in ("accuracy", "exact_match"):
            if metrics.get(name) is not None:
                return ValidationScore(name, metrics[name], metrics.get("val_examples"))
        return None

    @property
    def artifacts_dir(self):
        return settings.ARTIFACTS_DIR / "models" / self.storage_name if self.storage_name else None

    @property
    def merged_dir(self):
        """Where a worker exports the base weights with the adapter merged in (a standalone HF folder)."""
        return self.artifacts_dir / "merged" if self.artifacts_dir else None
