from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from projects.choices import (
    Automation,
    DataClass,
    DatasetKind,
    DatasetVersionStatus,
    ImportStatus,
    LawfulBasis,
    ReleaseCadence,
    Residency,
    Role,
    TaskType,
)
from projects.ingest import Format
from projects.models import (
    MAX_RETENTION_DAYS,
    Charter,
    Dataset,
    DatasetImport,
    DatasetVersion,
    Membership,
    PersonalAccessToken,
    Project,
    Team,
)
from projects.policy import training_block_reasons
from projects.roles import role_in
from projects.schemas import SUCCESS_MEASURE_LIMIT
from projects.selectors import charters_latest
from studio.api.fields import JSONField, ObjectIdField
from studio.models import MAX_POSITIVE_INTEGER

User = get_user_model()


class TeamSerializer(serializers.ModelSerializer):
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "my_role", "created_at", "updated_at"]
        read_only_fields = fields

    def get_my_role(self, team) -> str | None:
        return role_in(self.context["request"].user, team)


class TeamInputSerializer(serializers.Serializer):
    """The slug is chosen by the studio (the name's slug and a random suffix) and returned."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class TeamUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class MemberUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name"]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    user = MemberUserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "team", "user", "role", "created_at", "updated_at"]
        read_only_fields = fields


class MembershipCreateSerializer(serializers.Serializer):
    team = serializers.SlugField(help_text="The team's slug.")
    user = serializers.CharField(max_length=254, help_text="Username or e-mail address of an existing user.")
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class PersonalAccessTokenSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = PersonalAccessToken
        fields = [
            "id",
            "name",
            "token_prefix",
            "status",
            "can_manage_tokens",
            "parent",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


class PersonalAccessTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    can_manage_tokens = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Let requests made with the new token create and revoke tokens. Off unless asked for.",
    )


class PersonalAccessTokenCreatedSerializer(PersonalAccessTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret. Shown once; store it now.")

    class Meta(PersonalAccessTokenSerializer.Meta):
        fields = [*PersonalAccessTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ProjectSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "team",
            "name",
            "slug",
            "description",
            "task_type",
            "instructions",
            "output_schema",
            "owner",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProjectCreateSerializer(serializers.Serializer):
    team = serializers.SlugField(help_text="The team's slug.")
    name = serializers.CharField(max_length=120)
    task_type = serializers.ChoiceField(choices=TaskType.choices)
    instructions = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    output_schema = JSONField(required=False, allow_null=True, default=None)


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    instructions = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    output_schema = JSONField(required=False, allow_null=True)


class SuccessMeasureSerializer(serializers.Serializer):
    metric = serializers.CharField(max_length=80)
    baseline = serializers.FloatField(min_value=-SUCCESS_MEASURE_LIMIT, max_value=SUCCESS_MEASURE_LIMIT)
    target = serializers.FloatField(min_value=-SUCCESS_MEASURE_LIMIT, max_value=SUCCESS_MEASURE_LIMIT)
    higher_is_better = serializers.BooleanField(default=True)


class CharterSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    success_measures = SuccessMeasureSerializer(many=True, read_only=True)
    data_classes = serializers.ListField(
        child=serializers.ChoiceField(choices=DataClass.choices), read_only=True
    )

    class Meta:
        model = Charter
        fields = [
            "id",
            "project",
            "version",
            "author",
            "change_note",
            "problem_statement",
            "business_metric",
            "non_goals",
            "data_classes",
            "residency",
            "automation",
            "confidence_threshold",
            "release_cadence",
            "rollback_expectation",
            "success_measures",
            "created_at",
        ]
        read_only_fields = fields


class CharterCreateSerializer(serializers.Serializer):
    project = ObjectIdField()
    problem_statement = serializers.CharField()
    business_metric = serializers.CharField(max_length=200)
    non_goals = serializers.CharField(required=False, allow_blank=True, default="")
    data_classes = serializers.ListField(
        child=serializers.ChoiceField(choices=DataClass.choices), allow_empty=False
    )
    residency = serializers.ChoiceField(choices=Residency.choices, default=Residency.ANY)
    automation = serializers.ChoiceField(choices=Automation.choices, default=Automation.HUMAN_REVIEW)
    confidence_threshold = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=1
    )
    release_cadence = serializers.ChoiceField(
        choices=ReleaseCadence.choices, default=ReleaseCadence.ON_DEMAND
    )
    rollback_expectation = serializers.CharField(required=False, allow_blank=True, default="")
    success_measures = SuccessMeasureSerializer(many=True, allow_empty=False)
    change_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class CharterDiffQuerySerializer(serializers.Serializer):
    against = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_POSITIVE_INTEGER,
        help_text="The other version's number (default: the previous one).",
    )


class CharterChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class CharterDiffSerializer(serializers.Serializer):
    base = serializers.IntegerField(help_text="The earlier version number.")
    head = serializers.IntegerField(help_text="The later version number.")
    changes = CharterChangeSerializer(many=True)


class DatasetVersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "number",
            "operation",
            "parent",
            "sha256",
            "row_count",
            "data_classes_found",
            "created_at",
        ]
        read_only_fields = fields


class DatasetSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    versions = DatasetVersionSummarySerializer(many=True, read_only=True)
    retention_until = serializers.DateTimeField(read_only=True, allow_null=True)
    retention_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "created_by",
            "purpose",
            "source",
            "data_owner",
            "lawful_basis",
            "retention_days",
            "retention_until",
            "retention_expired",
            "versions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    project = ObjectIdField(required=False, help_text="Required for a new dataset.")
    dataset = ObjectIdField(required=False, help_text="Upload a new version of this dataset instead.")
    file = serializers.FileField(allow_empty_file=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=120)
    kind = serializers.ChoiceField(choices=DatasetKind.choices, default=DatasetKind.TRAINING)
    format = serializers.ChoiceField(choices=[(f.value, f.value) for f in Format], required=False)
    input_column = serializers.CharField(
        required=False, help_text="CSV/TSV (or JSONL key) holding the input."
    )
    output_column = serializers.CharField(
        required=False, help_text="CSV/TSV (or JSONL key) holding the output."
    )
    split_seed = serializers.IntegerField(
        required=False, default=13, min_value=0, max_value=MAX_POSITIVE_INTEGER
    )
    purpose = serializers.CharField(required=False, allow_blank=True)
    source = serializers.CharField(required=False, allow_blank=True)
    data_owner = serializers.CharField(required=False, allow_blank=True)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices, required=False)
    retention_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_RETENTION_DAYS
    )

    def validate(self, attrs):
        if not attrs.get("project") and not attrs.get("dataset"):
            raise serializers.ValidationError(
                {"project": ["Give a project (new dataset) or a dataset (new version)."]}
            )
        return attrs


class DatasetCardSerializer(serializers.Serializer):
    purpose = serializers.CharField(required=False, allow_blank=True)
    source = serializers.CharField(required=False, allow_blank=True)
    data_owner = serializers.CharField(required=False, allow_blank=True)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices, required=False)
    retention_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_RETENTION_DAYS
    )


class DatasetVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    merged_from = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    training_blocked_reasons = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "number",
            "status",
            "operation",
            "parent",
            "merged_from",
            "created_by",
            "note",
            "source_filename",
            "source_format",
            "column_mapping",
            "sha256",
            "size_bytes",
            "row_count",
            "labels",
            "stats",
            "warnings",
            "pii_summary",
            "pii_findings",
            "data_classes_found",
            "split_seed",
            "split_ratios",
            "split_counts",
            "contamination",
            "training_blocked_reasons",
            "created_at",
        ]
        read_only_fields = fields

    def _reasons(self, version) -> list[str]:
        # One charter query for a whole page, however many versions and projects it lists.
        charters = self.context.setdefault("latest_charters", {})
        if version.dataset.project_id not in charters:
            page = self.parent.instance if isinstance(self.parent, serializers.ListSerializer) else [version]
            project_ids = {item.dataset.project_id for item in page} | {version.dataset.project_id}
            charters.update(dict.fromkeys(project_ids))
            charters.update(charters_latest(project_ids=project_ids))
        if not hasattr(version, "_block_reasons"):
            version._block_reasons = training_block_reasons(
                version, charter=charters.get(version.dataset.project_id)
            )
        return version._block_reasons

    def get_training_blocked_reasons(self, version) -> list[str]:
        return self._reasons(version)

    def get_status(self, version) -> str:
        """`ready`, or `blocked` when policy forbids training on it (validation failures leave no version)."""
        return DatasetVersionStatus.BLOCKED if self._reasons(version) else DatasetVersionStatus.READY


class DatasetVersionSplitSerializer(serializers.Serializer):
    seed = serializers.IntegerField(min_value=0, max_value=MAX_POSITIVE_INTEGER)
    train = serializers.FloatField(default=0.8, min_value=0, max_value=1)
    val = serializers.FloatField(default=0.1, min_value=0, max_value=1)
    test = serializers.FloatField(default=0.1, min_value=0, max_value=1)


class DatasetVersionMergeSerializer(serializers.Serializer):
    other = ObjectIdField(help_text="The id of the dataset version to merge in.")


class UploadIssueSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    line = serializers.IntegerField(
        allow_null=True, help_text="1-based line of the file; null for the whole file."
    )
    field = serializers.CharField(allow_null=True)
    details = serializers.DictField(required=False)


class DatasetImportErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    errors = UploadIssueSerializer(many=True, help_text="Each error with its line and field.")


class DatasetImportSerializer(serializers.ModelSerializer):
    """A large upload checked on a worker; poll `url` until `status` is succeeded or failed."""

    url = serializers.SerializerMethodField(help_text="This import's status URL.")
    page_url = serializers.SerializerMethodField(help_text="The browser page that follows this import.")
    status = serializers.ChoiceField(choices=ImportStatus.choices, read_only=True)
    format = serializers.CharField(source="source_format", read_only=True)
    progress = serializers.SerializerMethodField(help_text="Share of the file's bytes read, 0 to 1.")
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = DatasetImport
        fields = [
            "id",
            "url",
            "page_url",
            "project",
            "dataset",
            "status",
            "source_filename",
            "format",
            "size_bytes",
            "rows_read",
            "bytes_read",
            "progress",
            "attempt",
            "max_attempts",
            "dataset_version",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, record) -> str:
        return reverse("dataset-import-detail", args=[record.pk])

    def get_page_url(self, record) -> str:
        return reverse("projects:dataset_import_detail", args=[record.pk])

    def get_progress(self, record) -> float:
        if record.status == ImportStatus.SUCCEEDED:
            return 1.0
        return min(1.0, record.bytes_read / record.size_bytes) if record.size_bytes else 0.0

    @extend_schema_field(DatasetImportErrorSerializer(allow_null=True))
    def get_error(self, record) -> dict | None:
        if record.status != ImportStatus.FAILED:
            return None
        return {"code": record.error_code, "message": record.error_message, "errors": record.errors}
