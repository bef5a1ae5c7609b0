"""Serving's states and options, each with its label (and, for statuses, the colour it is shown in)."""

from django.db import models

from studio.choices import StatusChoices


class EndpointStatus(StatusChoices):
    ACTIVE = "active", "success", "Active"
    PAUSED = "paused", "secondary", "Paused"


class Fallback(models.TextChoices):
    """What happens to an answer below the endpoint's routing threshold."""

    REVIEW_QUEUE = "review_queue", "Human review queue"
    FORWARD = "forward", "Forward to a fallback model (OpenAI-compatible URL)"
    NONE = "none", "None — answer, marked as escalated"


class LogPolicy(models.TextChoices):
    REDACTED = "redacted", "Store inputs and outputs with PII redacted"
    NONE = "none", "Store no inputs or outputs"


class Route(StatusChoices):
    """The routing decision logged for every request."""

    ANSWER = "answer", "success", "Answered"
    ESCALATE = "escalate", "warning", "Escalated"
    FALLBACK = "fallback", "info", "Fallback model"
    SHADOW = "shadow", "secondary", "Shadow"


class ReviewStatus(StatusChoices):
    PENDING = "pending", "warning", "Pending"
    CONFIRMED = "confirmed", "success", "Confirmed"
    CORRECTED = "corrected", "primary", "Corrected"


class ApiKeyStatus(StatusChoices):
    ACTIVE = "active", "success", "Active"
    EXPIRED = "expired", "light", "Expired"
    REVOKED = "revoked", "light", "Revoked"
