"""Endpoints (a project's production version, published), their API keys, the request log and the
review queue of escalated answers."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from serving.choices import ApiKeyStatus, EndpointStatus, Fallback, LogPolicy, ReviewStatus, Route
from studio.models import TeamOwnedModel
from studio.tenancy import TeamScopedQuerySet

MAX_TIMEOUT_S = 600
MAX_TOKENS_LIMIT = 32_768
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000

slug_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z",
    "Use lowercase letters, digits and single hyphens (e.g. “support-intents”).",
    code="invalid_slug",
)


class Endpoint(TeamOwnedModel):
    """A project published for other software to call: it always serves the project's production version."""

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="endpoints")
    slug = models.SlugField(
        max_length=60,
        unique=True,
        validators=[slug_validator],
        help_text="The name callers use (the `model` of OpenAI requests).",
    )
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=EndpointStatus.choices, default=EndpointStatus.ACTIVE)
    routing_threshold = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Answers with a confidence below this are escalated; empty: never escalate.",
    )
    fallback = models.CharField(max_length=20, choices=Fallback.choices, default=Fallback.REVIEW_QUEUE)
    fallback_url = models.URLField(
        max_length=500, blank=True, help_text="OpenAI-compatible base URL of the fallback model."
    )
    fallback_timeout_s = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(MAX_TIMEOUT_S)]
    )
    shadow_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Answers the same inputs beside production; logged, never returned.",
    )
    canary_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Takes `canary_percent` of the traffic.",
    )
    canary_percent = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Share of requests the canary answers."
    )
    log_policy = models.CharField(max_length=10, choices=LogPolicy.choices, default=LogPolicy.REDACTED)
    max_input_tokens = models.PositiveIntegerField(
        default=2048, validators=[MinValueValidator(1), MaxValueValidator(MAX_TOKENS_LIMIT)]
    )
    max_tokens_cap = models.PositiveIntegerField(
        default=512, validators=[MinValueValidator(1), MaxValueValidator(MAX_TOKENS_LIMIT)]
    )
    request_timeout_s = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(MAX_TIMEOUT_S)]
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(routing_threshold__isnull=True)
                | models.Q(routing_threshold__gte=0, routing_threshold__lte=1),
                name="endpoint_threshold_between_0_and_1",
                violation_error_message="The routing threshold must be between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=models.Q(canary_percent__lte=100),
                name="endpoint_canary_percent_at_most_100",
                violation_error_message="The canary share is a percentage (0 to 100).",
            ),
            models.CheckConstraint(
                condition=~models.Q(fallback=Fallback.FORWARD) | ~models.Q(fallback_url=""),
                name="endpoint_forward_needs_url",
                violation_error_message="Forwarding to a fallback model needs its URL.",
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def status_choice(self) -> EndpointStatus:
        return EndpointStatus(self.status)

    @property
    def is_active(self) -> bool:
        return self.status == EndpointStatus.ACTIVE


class ApiKey(TeamOwnedModel):
    """A calling service's key to some of its team's endpoints; only its SHA-256 is stored."""

    PREFIX = "slm_"
    SHOWN_CHARS = 8

    team = models.ForeignKey("projects.Team", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="The calling service, e.g. “helpdesk-router”.")
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the key.")
    secret_hash = models.CharField(max_length=64, unique=True)
    endpoints = models.ManyToManyField(Endpoint, related_name="api_keys")
    expires_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT_PER_MINUTE)]
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    request_count = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    minted_by_token = models.ForeignKey(
        "projects.PersonalAccessToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The access token whose request created this key; the key works only while it does.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def minting_token_ended(self) -> bool:
        """Whether the access token that minted this key was revoked or has expired (which ends the key)."""
        token = self.minted_by_token if self.minted_by_token_id else None
        return token is not None and (token.revoked_at is not None or token.is_expired)

    @property
    def status(self) -> ApiKeyStatus:
        if self.revoked_at or self.minting_token_ended:
            return ApiKeyStatus.REVOKED
        return ApiKeyStatus.EXPIRED if self.is_expired else ApiKeyStatus.ACTIVE


class RequestLog(models.Model):
    """One request an endpoint answered (or refused), with its routing decision; PII-safe text."""

    team_path = "endpoint__project__team"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="request_logs")
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="request_logs"
    )
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shadow_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="shadows",
        help_text="A shadow answer: the production request it answered beside.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    latency_ms = models.FloatField(default=0)
    status_code = models.PositiveSmallIntegerField(default=200)
    route = models.CharField(max_length=10, choices=Route.choices, default=Route.ANSWER)
    confidence = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    input_text = models.TextField(blank=True)
    output_text = models.TextField(blank=True)
    error_code = models.CharField(max_length=60, blank=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "created_at"], name="request_log_endpoint_time_idx")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status_code} {self.route}"

    @property
    def route_choice(self) -> Route:
        return Route(self.route)

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


class ReviewItem(TeamOwnedModel):
    """An escalated answer waiting for a person: confirmed as is, or corrected (then it can become data)."""

    team_path = "endpoint__project__team"

    request_log = models.OneToOneField(RequestLog, on_delete=models.CASCADE, related_name="review_item")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="review_items")
    status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    corrected_output = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    exported_to = models.ForeignKey(
        "projects.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The dataset version this reviewed example was added to.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Review #{self.pk} ({self.get_status_display()})"

    @property
    def status_choice(self) -> ReviewStatus:
        return ReviewStatus(self.status)

    @property
    def final_output(self) -> str:
        """The answer a person stands behind: the correction, or the model's answer when confirmed."""
        return (
            self.corrected_output if self.status == ReviewStatus.CORRECTED else self.request_log.output_text
        )
