from rest_framework import serializers

from governance import tiers
from governance.choices import ApproverRole, TargetStage
from governance.models import Approval, ModelCard, PromotionRequest, StageChange
from studio.api.fields import ObjectIdField

MAX_TEXT = 2000


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username", read_only=True)

    class Meta:
        model = Approval
        fields = ["id", "approver", "role", "comment", "created_at", "voided_at", "void_reason"]
        read_only_fields = fields


class PromotionSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )
    approvals = ApprovalSerializer(many=True, read_only=True)
    missing_roles = serializers.SerializerMethodField()

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "project",
            "model_version",
            "target_stage",
            "status",
            "tier",
            "tier_reasons",
            "change",
            "required_roles",
            "missing_roles",
            "approvals",
            "evidence",
            "risk_acceptance",
            "previous_production",
            "reason",
            "requested_by",
            "decided_by",
            "decided_at",
            "decision_comment",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_missing_roles(self, promotion) -> list[str]:
        return promotion.missing_roles() if promotion.is_pending else []


class RiskAcceptanceSerializer(serializers.Serializer):
    gates = serializers.ListField(child=serializers.CharField(max_length=300), max_length=100)
    reason = serializers.CharField(max_length=MAX_TEXT)
    until = serializers.DateField()


class PromotionCreateSerializer(serializers.Serializer):
    model_version = ObjectIdField()
    target_stage = serializers.ChoiceField(choices=TargetStage.choices)
    reason = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")
    risk_acceptance = RiskAcceptanceSerializer(required=False, allow_null=True, default=None)


class ApproveSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=ApproverRole.choices, required=False, allow_null=True, default=None
    )
    comment = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=MAX_TEXT)


class RollbackSerializer(serializers.Serializer):
    project = ObjectIdField()
    reason = serializers.CharField(max_length=MAX_TEXT)


class RollbackDrillSerializer(serializers.Serializer):
    project = ObjectIdField()


class StageChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = StageChange
        fields = [
            "id",
            "model_version",
            "from_stage",
            "to_stage",
            "kind",
            "actor",
            "promotion",
            "reason",
            "duration_ms",
            "created_at",
        ]
        read_only_fields = fields


class ModelCardSerializer(serializers.ModelSerializer):
    approved_by = serializers.CharField(
        source="approved_by.username", read_only=True, allow_null=True, default=None
    )
    # A card never saved yet (a draft built on reading) has no update time.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ModelCard
        fields = [
            "model_version",
            "status",
            "intended_use",
            "limitations",
            "generated",
            "approved_by",
            "approved_at",
            "updated_at",
        ]
        read_only_fields = fields


class ModelCardUpdateSerializer(serializers.Serializer):
    intended_use = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    limitations = serializers.CharField(max_length=10_000, required=False, allow_blank=True)


class TierPolicySerializer(serializers.Serializer):
    roles = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=tiers.APPROVER_ROLES), max_length=3)
    )
    automatic_tier0 = serializers.BooleanField()
