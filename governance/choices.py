from django.db import models

from governance import tiers
from studio.choices import StatusChoices


class PromotionStatus(StatusChoices):
    PENDING = "pending", "warning", "Pending"
    APPROVED = "approved", "success", "Approved"
    REJECTED = "rejected", "danger", "Rejected"
    WITHDRAWN = "withdrawn", "secondary", "Withdrawn"


class TargetStage(models.TextChoices):
    """The stages a promotion may ask for (`training.choices.Stage` values)."""

    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class ApproverRole(models.TextChoices):
    ML_ENGINEER = tiers.ML_ENGINEER, tiers.APPROVER_ROLE_LABELS[tiers.ML_ENGINEER]
    PRODUCT_OWNER = tiers.PRODUCT_OWNER, tiers.APPROVER_ROLE_LABELS[tiers.PRODUCT_OWNER]
    GOVERNANCE_REVIEWER = tiers.GOVERNANCE_REVIEWER, tiers.APPROVER_ROLE_LABELS[tiers.GOVERNANCE_REVIEWER]


class StageChangeKind(models.TextChoices):
    PROMOTION = "promotion", "Promotion"
    ROLLBACK = "rollback", "Rollback"
    DRILL = "drill", "Rollback drill"
    RETIRE = "retire", "Retirement"
    REPLACED = "replaced", "Replaced by a newer version"


class ModelCardStatus(StatusChoices):
    DRAFT = "draft", "secondary", "Draft"
    IN_REVIEW = "in_review", "warning", "In review"
    APPROVED = "approved", "success", "Approved"
