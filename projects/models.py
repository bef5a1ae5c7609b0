"""Teams and their members, personal access tokens, projects, charters and datasets."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from projects.choices import (
    Automation,
    DatasetKind,
    DatasetOperation,
    ImportStatus,
    LawfulBasis,
    ReleaseCadence,
    Residency,
    Role,
    TaskType,
    TokenStatus,
)
from studio.leases import LeasedModel
from studio.models import TeamOwnedModel, TimeStampedModel


class Team(TeamOwnedModel):
    """A domain team (support, legal, finance…) that owns projects, data and models."""

    team_path = None

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TeamOwnedModel):
    """A user's role in one team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user"],
                name="membership_unique_user_per_team",
                violation_error_message="This user is already a member of the team.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.get_role_display()}"


class PersonalAccessTokenQuerySet(models.QuerySet):
    def for_user(self, user) -> PersonalAccessTokenQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user_id=user.pk)


class PersonalAccessToken(TimeStampedModel):
    """A bearer token for integrations; only its SHA-256 is stored, the secret is shown once."""

    PREFIX = "slm_pat_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    token_prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the token.")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    can_manage_tokens = models.BooleanField(
        default=False,
        help_text="Whether requests made with this token may create and revoke tokens (off by default).",
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        help_text="The token whose request created this one; revoking it revokes this one too.",
    )

    objects = PersonalAccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def status(self) -> TokenStatus:
        if self.revoked_at:
            return TokenStatus.REVOKED
        return TokenStatus.EXPIRED if self.is_expired else TokenStatus.ACTIVE


class Project(TeamOwnedModel):
    """One task for a small model: its charter, data, evaluations, models and endpoint."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    description = models.TextField(blank=True)
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    instructions = models.TextField(
        help_text="The system prompt that frames the task for the model, e.g. “Classify the customer e-mail.”"
    )
    output_schema = models.JSONField(
        null=True, blank=True, help_text="Extraction only: a JSON Schema every output must satisfy."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "slug"],
                name="project_unique_slug_per_team",
                violation_error_message="A project with this slug already exists in the team.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Charter(TeamOwnedModel):
    """One immutable version of a project's charter; editing creates the next version."""

    team_path = "project__team"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="charters")
    version = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    problem_statement = models.TextField()
    business_metric = models.CharField(max_length=200)
    non_goals = models.TextField(blank=True)
    data_classes = models.JSONField(default=list)
    residency = models.CharField(max_length=10, choices=Residency.choices, default=Residency.ANY)
    automation = models.CharField(max_length=20, choices=Automation.choices, default=Automation.HUMAN_REVIEW)
    confidence_threshold = models.FloatField(null=True, blank=True)
    release_cadence = models.CharField(
        max_length=20, choices=ReleaseCadence.choices, default=ReleaseCadence.ON_DEMAND
    )
    rollback_expectation = models.TextField(blank=True)
    success_measures = models.JSONField(default=list)
    change_note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["project", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"],
                name="charter_unique_version",
                violation_error_message="This charter version already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence_threshold__isnull=True)
                | models.Q(confidence_threshold__gte=0, confidence_threshold__lte=1),
                name="charter_threshold_between_0_and_1",
                violation_error_message="The confidence threshold must be between 0 and 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} charter v{self.version}"


# A century: far beyond any retention policy, and far from the last date a datetime can hold.
MAX_RETENTION_DAYS = 36_500


class Dataset(TeamOwnedModel):
    """A named body of examples in a project, with its data card; its content lives in versions."""

    team_path = "project__team"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=DatasetKind.choices, default=DatasetKind.TRAINING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The data card
    purpose = models.TextField(blank=True)
    source = models.TextField(blank=True, help_text="Where the examples come from.")
    data_owner = models.CharField(max_length=150, blank=True, help_text="Who answers for this data.")
    lawful_basis = models.CharField(
        max_length=30, choices=LawfulBasis.choices, default=LawfulBasis.NOT_PERSONAL
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[
            MinValueValidator(1, message="Keep the data at least 1 day."),
            MaxValueValidator(
                MAX_RETENTION_DAYS, message=f"Retention is at most {MAX_RETENTION_DAYS:,} days (100 years)."
            ),
        ],
        help_text="Days the data may be kept after upload; empty for no limit.",
    )

    class Meta:
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def retention_until(self):
        if self.retention_days is None:
            return None
        return self.created_at + timedelta(days=self.retention_days)

    @property
    def retention_expired(self) -> bool:
        until = self.retention_until
        return until is not None and until <= timezone.now()


class DatasetVersion(TeamOwnedModel):
    """An immutable, content-addressed snapshot of a dataset's normalised rows, with its lineage."""

    team_path = "dataset__project__team"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    merged_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Merge only: the other version merged into the parent.",
    )
    operation = models.CharField(max_length=20, choices=DatasetOperation.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source_filename = models.CharField(
        max_length=255, blank=True, help_text="Shown only; never used as a path."
    )
    source_format = models.CharField(max_length=20, blank=True)
    column_mapping = models.JSONField(default=dict, blank=True)
    storage_name = models.CharField(max_length=100, unique=True, help_text="Server-generated file name.")
    sha256 = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the normalised rows.")
    size_bytes = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    labels = models.JSONField(default=list, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    pii_findings = models.JSONField(
        default=list, blank=True, help_text="The first findings, with row and field."
    )
    pii_summary = models.JSONField(default=dict, blank=True, help_text="Finding counts by type.")
    data_classes_found = models.JSONField(default=list, blank=True)
    split_seed = models.PositiveIntegerField(default=13)
    split_ratios = models.JSONField(default=list)
    split_counts = models.JSONField(default=dict, blank=True)
    contamination = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["dataset", "-number"]
        get_latest_by = "number"
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "number"],
                name="dataset_version_unique_number",
                violation_error_message="This dataset version already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"

    @property
    def rows_path(self):
        return settings.DATASETS_DIR / self.storage_name

    @property
    def splits_path(self):
        return settings.DATASETS_DIR / f"{self.storage_name}.splits.json"

    def redacted_version(self) -> DatasetVersion | None:
        """The version made by redacting this one's personal data, once someone has."""
        return self.children.filter(operation=DatasetOperation.REDACT).order_by("number").first()


class DatasetImport(TeamOwnedModel, LeasedModel):
    """A large upload, stored as it streamed in and checked on a worker that holds its lease
    (`studio.leases`): queued → running → succeeded (with the version it made) | failed (with why)."""

    team_path = "project__team"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_imports")
    dataset = models.ForeignKey(
        Dataset,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="imports",
        help_text="The dataset this upload adds a version to; empty for a new dataset.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    source_filename = models.CharField(max_length=255, blank=True, help_text="Shown only; never a path.")
    source_format = models.CharField(max_length=20)
    staged_name = models.CharField(max_length=100, unique=True, help_text="Server-generated file name.")
    size_bytes = models.BigIntegerField()
    options = models.JSONField(
        default=dict, blank=True, help_text="The upload's choices: new dataset, mapping, split seed."
    )
    rows_read = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Each error with its line and field.")
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import of {self.source_filename or 'an upload'}"

    @property
    def staged_path(self):
        return settings.UPLOADS_DIR / self.staged_name

    @property
    def status_choice(self) -> ImportStatus:
        """The status with its label and colour, for badges and progress bars."""
        return ImportStatus(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED)
