from django.db import models

from studio.choices import StatusChoices


class RunStatus(StatusChoices):
    QUEUED = "queued", "secondary", "Queued"
    RUNNING = "running", "primary", "Running"
    SUCCEEDED = "succeeded", "success", "Succeeded"
    FAILED = "failed", "danger", "Failed"
    CANCELLED = "cancelled", "dark", "Cancelled"


TERMINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class Layer(models.TextChoices):
    """The three named sets of cases an eval spec runs, each with its own results."""

    REGRESSION = "regression", "Regression — the test split and golden cases"
    STRESS = "stress", "Stress — perturbed, out-of-domain and messy inputs"
    POLICY = "policy", "Policy — injection, instruction-reveal, PII-leak and out-of-scope probes"
