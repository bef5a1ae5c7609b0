from rest_framework import serializers

from serving.choices import EndpointStatus, Fallback, LogPolicy
from serving.models import MAX_RATE_LIMIT_PER_MINUTE, MAX_TIMEOUT_S, MAX_TOKENS_LIMIT, ApiKey, Endpoint
from studio.api.fields import ObjectIdField

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class EndpointSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="project.team.slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    production_version = serializers.IntegerField(
        source="production_version_id", read_only=True, allow_null=True, help_text="The version served now."
    )
    # A plain string: empty when no fallback URL is set ("" is not a URI, so not `format: uri`).
    fallback_url = serializers.CharField(read_only=True, help_text="Fallback base URL; empty if none.")

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "slug",
            "team",
            "project",
            "description",
            "status",
            "production_version",
            "routing_threshold",
            "fallback",
            "fallback_url",
            "fallback_timeout_s",
            "shadow_version",
            "canary_version",
            "canary_percent",
            "log_policy",
            "max_input_tokens",
            "max_tokens_cap",
            "request_timeout_s",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointSettingsSerializer(serializers.Serializer):
    """The settings an endpoint's owners may change; every field optional."""

    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=EndpointStatus.choices, required=False)
    routing_threshold = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        allow_null=True,
        required=False,
        help_text="Answers below this confidence are escalated; null: never escalate.",
    )
    fallback = serializers.ChoiceField(choices=Fallback.choices, required=False)
    fallback_url = serializers.URLField(max_length=500, allow_blank=True, required=False)
    fallback_timeout_s = serializers.FloatField(min_value=0.1, max_value=MAX_TIMEOUT_S, required=False)
    shadow_version = ObjectIdField(allow_null=True, required=False, help_text="A model version id.")
    canary_version = ObjectIdField(allow_null=True, required=False, help_text="A model version id.")
    canary_percent = serializers.IntegerField(min_value=0, max_value=100, required=False)
    log_policy = serializers.ChoiceField(choices=LogPolicy.choices, required=False)
    max_input_tokens = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS_LIMIT, required=False)
    max_tokens_cap = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS_LIMIT, required=False)
    request_timeout_s = serializers.FloatField(min_value=0.1, max_value=MAX_TIMEOUT_S, required=False)


class EndpointCreateSerializer(EndpointSettingsSerializer):
    project = ObjectIdField(help_text="The project to publish; it needs a production version.")
    slug = serializers.RegexField(
        SLUG_PATTERN,
        max_length=60,
        help_text="Lowercase letters, digits and single hyphens; callers use it as the model name.",
    )


class ApiKeySerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    endpoints = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    status = serializers.CharField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "team",
            "name",
            "prefix",
            "status",
            "endpoints",
            "expires_at",
            "rate_limit_per_minute",
            "revoked_at",
            "last_used_at",
            "request_count",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="The calling service.")
    also_endpoints = serializers.ListField(
        child=serializers.RegexField(SLUG_PATTERN, max_length=60),
        max_length=100,
        required=False,
        default=list,
        help_text="Slugs of other endpoints of the team the key may call too.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=MAX_RATE_LIMIT_PER_MINUTE, required=False, default=None
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields
