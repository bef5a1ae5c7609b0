from rest_framework import serializers

from studio.api.fields import ObjectIdField
from training.choices import Method, Preset
from training.models import BaseModel, ModelVersion, TrainingJob, TrainingJobEvent, TrainingMetricPoint


class BaseModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = BaseModel
        fields = [
            "id",
            "key",
            "name",
            "source_type",
            "architecture",
            "parameter_count",
            "context_length",
            "source_checksum",
            "weights_checksum",
            "cached_at",
            "is_default",
            "is_active",
        ]
        read_only_fields = fields


class BaseModelRegisterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    path = serializers.CharField(
        max_length=BaseModel._meta.get_field("source").max_length,
        help_text="A local Hugging Face-format folder on the workers' shared storage.",
    )


class TrainingJobSerializer(serializers.ModelSerializer):
    base_model = serializers.SlugRelatedField(slug_field="key", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    progress = serializers.FloatField(source="progress_fraction", read_only=True)
    model_version = serializers.SerializerMethodField()
    failure = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "project",
            "dataset_version",
            "charter",
            "base_model",
            "method",
            "preset",
            "hyperparameters",
            "status",
            "progress",
            "step",
            "total_steps",
            "epoch",
            "train_loss",
            "val_loss",
            "learning_rate",
            "tokens_per_second",
            "eta_seconds",
            "metrics",
            "attempt",
            "max_attempts",
            "heartbeat_at",
            "last_checkpoint_step",
            "hardware",
            "cancel_requested_at",
            "retry_of",
            "model_version",
            "failure",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_model_version(self, job) -> int | None:
        version = getattr(job, "model_version", None)
        return version.pk if version else None

    def get_failure(self, job) -> dict | None:
        if not job.failure_reason:
            return None
        return {"reason": job.failure_reason, "hint": job.failure_hint, "traceback": job.failure_traceback}


class TrainingJobCreateSerializer(serializers.Serializer):
    project = ObjectIdField()
    dataset_version = ObjectIdField()
    base_model = serializers.SlugField(
        required=False, help_text="A base-model key; the default when omitted."
    )
    method = serializers.ChoiceField(choices=Method.choices, default=Method.LORA)
    preset = serializers.ChoiceField(choices=Preset.choices, default=Preset.BALANCED)
    hyperparameters = serializers.DictField(
        required=False, help_text="Explicit values (epochs, max_steps, learning_rate, batch_size, lora_r, …)."
    )


class TrainingJobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingJobEvent
        fields = ["id", "created_at", "level", "message", "data"]
        read_only_fields = fields


class TrainingMetricPointSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingMetricPoint
        fields = ["step", "train_loss", "val_loss", "learning_rate", "metrics"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    base_model = serializers.SlugRelatedField(slug_field="key", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "project",
            "number",
            "kind",
            "training_job",
            "base_model",
            "dataset_version",
            "stage",
            "description",
            "tags",
            "metrics",
            "lineage",
            "artifacts",
            "training_config",
            "sample_predictions",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ModelVersionUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), required=False)


class MergedExportSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="True once the merged weights can be downloaded.")
