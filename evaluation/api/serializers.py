from rest_framework import serializers

from evaluation.choices import Layer
from evaluation.models import EvalResult, EvalRun, EvalSpec
from evaluation.schemas import MAX_CASES
from studio.api.fields import ObjectIdField


class EvalSpecSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    signed_by = serializers.CharField(source="signed_by.username", read_only=True, allow_null=True)
    is_signed = serializers.BooleanField(read_only=True)
    is_locked = serializers.BooleanField(read_only=True)

    class Meta:
        model = EvalSpec
        fields = [
            "id",
            "project",
            "version",
            "gates",
            "layers",
            "cases",
            "settings",
            "note",
            "sha256",
            "is_signed",
            "is_locked",
            "signed_by",
            "signed_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class EvalSpecCreateSerializer(serializers.Serializer):
    project = ObjectIdField()
    gates = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        allow_null=True,
        max_length=100,
        help_text="[{kind: threshold, metric, comparator, threshold, slice} | {kind: regression, metric, "
        "max_drop, higher_is_better, slice}]; omitted: pre-filled from the charter's success measures.",
    )
    layers = serializers.DictField(
        required=False,
        help_text="{regression: {dataset_version, golden_dataset_version, max_examples}, "
        "stress: {enabled, perturbations, per_perturbation, out_of_domain, messy_inputs, seed}, "
        "policy: {enabled, built_in, probes}}",
    )
    cases = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=MAX_CASES,
        help_text="[{input, expected, tags}]",
    )
    settings = serializers.DictField(
        required=False,
        help_text="{hardware_price: {cpu_per_hour, gpu_per_hour}, generation_rules, max_new_tokens}",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class EvalRunSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    progress = serializers.FloatField(source="progress_fraction", read_only=True)
    model_version_number = serializers.IntegerField(source="model_version.number", read_only=True)
    spec_version = serializers.IntegerField(source="spec.version", read_only=True)
    failure = serializers.SerializerMethodField()

    class Meta:
        model = EvalRun
        fields = [
            "id",
            "project",
            "model_version",
            "model_version_number",
            "spec",
            "spec_version",
            "status",
            "progress",
            "examples_done",
            "examples_total",
            "metrics",
            "layer_metrics",
            "gate_report",
            "gates_passed",
            "coverage_curve",
            "reliability",
            "temperature",
            "cost",
            "reference_run",
            "hardware",
            "attempt",
            "max_attempts",
            "heartbeat_at",
            "cancel_requested_at",
            "failure",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_failure(self, run) -> dict | None:
        if not run.failure_reason:
            return None
        return {"reason": run.failure_reason, "hint": run.failure_hint, "traceback": run.failure_traceback}


class EvalRunCreateSerializer(serializers.Serializer):
    model_version = ObjectIdField()
    spec = ObjectIdField(help_text="A signed eval spec version of the model version's project.")


class EvalResultSerializer(serializers.ModelSerializer):
    slices = serializers.ListField(source="slice_keys", child=serializers.CharField(), read_only=True)

    class Meta:
        model = EvalResult
        fields = [
            "id",
            "index",
            "case_key",
            "layer",
            "input",
            "expected",
            "output",
            "correct",
            "score",
            "confidence",
            "latency_ms",
            "slices",
            "tags",
            "details",
        ]
        read_only_fields = fields


class EvalResultQuerySerializer(serializers.Serializer):
    layer = serializers.ChoiceField(choices=Layer.choices, required=False)
    slice = serializers.CharField(
        required=False, max_length=200, help_text="A slice key: all, label:<label>, layer:stress, tag:<tag>…"
    )
    correct = serializers.ChoiceField(
        choices=["true", "false", "none"], required=False, help_text="none: cases without an expected answer."
    )


class ComparisonQuerySerializer(serializers.Serializer):
    against = ObjectIdField(
        required=False,
        help_text="The reference model version; default the production version, else the baseline.",
    )
    spec = ObjectIdField(required=False, help_text="A signed spec; default the newest both were run on.")
