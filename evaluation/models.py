"""Eval specs (versioned, signed), eval runs on the evaluation queue, and their per-example results."""

from __future__ import annotations

from django.conf import settings as conf
from django.db import models

from evaluation.choices import TERMINAL_STATUSES, Layer, RunStatus
from studio.leases import LeasedModel
from studio.models import TeamOwnedModel


class EvalSpec(TeamOwnedModel):
    """One immutable version of what "good enough to ship" means for a project; signing locks it.

    Editing a spec creates the next version. Only a signed version can run, and so gate a promotion;
    `sha256` is the digest of its content (`evaluation.services.specs.spec_digest`), recorded at signing.
    """

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="eval_specs")
    version = models.PositiveIntegerField()
    gates = models.JSONField(
        default=list, blank=True, help_text="[{kind, metric, comparator, threshold, slice}, …]"
    )
    layers = models.JSONField(default=dict, help_text="regression, stress and policy layer settings.")
    cases = models.JSONField(default=list, blank=True, help_text="[{input, expected, tags}] written by hand.")
    settings = models.JSONField(default=dict, blank=True, help_text="Hardware prices, generation rules.")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(conf.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the spec's content.")
    signed_by = models.ForeignKey(
        conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"],
                name="eval_spec_unique_version",
                violation_error_message="This eval spec version already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True, signed_by__isnull=True)
                | models.Q(signed_at__isnull=False, signed_by__isnull=False),
                name="eval_spec_signed_by_and_at_together",
                violation_error_message="A signature records both who signed and when.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} eval spec v{self.version}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def is_locked(self) -> bool:
        """A signed spec never changes; the next edit is a new version."""
        return self.is_signed


class EvalRun(TeamOwnedModel, LeasedModel):
    """One model version measured against one signed spec version: queued → running → succeeded | failed
    | cancelled, on the `evaluation` queue, with the same lease rules as training jobs."""

    team_path = "project__team"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="eval_runs")
    spec = models.ForeignKey(EvalSpec, on_delete=models.PROTECT, related_name="runs")
    model_version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.PROTECT, related_name="eval_runs"
    )
    created_by = models.ForeignKey(conf.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    examples_done = models.PositiveIntegerField(default=0)
    examples_total = models.PositiveIntegerField(default=0)
    # The outcome, written with the results when the run succeeds.
    metrics = models.JSONField(default=dict, blank=True, help_text="{slice: {metric: value, count}}")
    layer_metrics = models.JSONField(default=dict, blank=True, help_text="{layer: full scores of the layer}")
    gate_report = models.JSONField(
        default=dict, blank=True, help_text="{passed, verdicts: [...]} with evidence"
    )
    gates_passed = models.BooleanField(null=True, blank=True)
    coverage_curve = models.JSONField(default=list, blank=True)
    reliability = models.JSONField(default=list, blank=True)
    temperature = models.JSONField(
        default=dict, blank=True, help_text="The temperature fit and ECE before/after."
    )
    cost = models.JSONField(default=dict, blank=True)
    reference_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The production version's run that regression gates compared against.",
    )
    hardware = models.JSONField(default=dict, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    failure_hint = models.CharField(max_length=300, blank=True)
    failure_traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_version", "spec", "status"], name="eval_run_version_spec_idx")]

    def __str__(self) -> str:
        return f"Eval run #{self.pk} ({self.get_status_display()})"

    @property
    def status_choice(self) -> RunStatus:
        return RunStatus(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def progress_fraction(self) -> float:
        if self.status == RunStatus.SUCCEEDED:
            return 1.0
        return min(1.0, self.examples_done / self.examples_total) if self.examples_total else 0.0


class EvalResult(models.Model):
    """One case's answer in a run: what went in, what was expected, what came out and how it scored.

    `case_key` identifies the case across runs of the same spec (layer + input), so two runs can be
    compared example by example; `slices` holds the case's slice keys between "|" for filtering."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    index = models.PositiveIntegerField()
    case_key = models.CharField(max_length=64)
    layer = models.CharField(max_length=20, choices=Layer.choices)
    input = models.TextField()
    expected = models.JSONField(null=True, blank=True)
    output = models.TextField(blank=True)
    correct = models.BooleanField(null=True, blank=True, help_text="None where there is no expected answer.")
    score = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    slices = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "index"],
                name="eval_result_unique_index",
                violation_error_message="This result index already exists in the run.",
            ),
        ]
        indexes = [
            models.Index(fields=["run", "layer", "index"], name="eval_result_run_layer_idx"),
            models.Index(fields=["run", "case_key"], name="eval_result_run_case_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.run} #{self.index}"

    @property
    def slice_keys(self) -> list[str]:
        return [key for key in self.slices.split("|") if key]
