from django.db import models

from studio.choices import StatusChoices


class Role(models.TextChoices):
    """A member's role in a team; what each may do is `projects.roles.ROLE_ACTIONS`."""

    OWNER = "owner", "Team owner"
    PRODUCT_OWNER = "product_owner", "Product owner"
    ML_ENGINEER = "ml_engineer", "ML engineer"
    VIEWER = "viewer", "Viewer"


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification — one label from a set"
    EXTRACTION = "extraction", "Extraction — a JSON object"
    GENERATION = "generation", "Generation — free text with constraints"


class DataClass(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    PERSONAL = "personal", "Personal data"
    SPECIAL_CATEGORY = "special_category", "Special-category personal data"
    PAYMENT = "payment", "Payment data"


class Residency(models.TextChoices):
    EU = "eu", "EU only"
    US = "us", "US only"
    UK = "uk", "UK only"
    ANY = "any", "No restriction"


class Automation(models.TextChoices):
    FULL = "full", "Full automation"
    HUMAN_REVIEW = "human_review", "Human review below a confidence threshold"


class ReleaseCadence(models.TextChoices):
    ON_DEMAND = "on_demand", "On demand"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"


class DatasetKind(models.TextChoices):
    TRAINING = "training", "Training data (split into train/validation/test)"
    GOLDEN = "golden", "Golden test set (evaluation only)"


class DatasetOperation(models.TextChoices):
    UPLOAD = "upload", "Upload"
    REDACT = "redact", "Redaction"
    SPLIT = "split", "Re-split"
    MERGE = "merge", "Merge"
    REVIEWED_EXAMPLES = "reviewed_examples", "Reviewed production examples"


class LawfulBasis(models.TextChoices):
    NOT_PERSONAL = "not_personal", "Not personal data"
    CONTRACT = "contract", "Contract"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONSENT = "consent", "Consent"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"


class TokenStatus(StatusChoices):
    ACTIVE = "active", "success", "Active"
    EXPIRED = "expired", "light", "Expired"
    REVOKED = "revoked", "light", "Revoked"


class DatasetVersionStatus(StatusChoices):
    """Whether a version may be trained on (a version that failed validation is never stored)."""

    READY = "ready", "success", "Ready"
    BLOCKED = "blocked", "warning", "Blocked"


class ImportStatus(StatusChoices):
    """A large upload checked on a worker: queued → running → succeeded | failed."""

    QUEUED = "queued", "secondary", "Queued"
    RUNNING = "running", "primary", "Checking"
    SUCCEEDED = "succeeded", "success", "Imported"
    FAILED = "failed", "danger", "Failed"
