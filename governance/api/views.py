from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from governance import selectors, services
from governance.api.serializers import (
    ApproveSerializer,
    ModelCardSerializer,
    ModelCardUpdateSerializer,
    PromotionCreateSerializer,
    PromotionSerializer,
    RejectSerializer,
    RollbackDrillSerializer,
    RollbackSerializer,
    StageChangeSerializer,
)
from governance.filters import PromotionFilterSet
from projects import selectors as project_selectors
from studio.api.renderers import FILE_RENDERERS
from training import selectors as training_selectors
from training.api.serializers import ModelVersionSerializer


class PromotionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Promotion requests: create (tier and evidence computed), approve, reject, withdraw; rollback."""

    serializer_class = PromotionSerializer
    filterset_class = PromotionFilterSet

    def get_queryset(self):
        return selectors.promotion_list(user=self.request.user)

    @extend_schema(request=PromotionCreateSerializer, responses={201: PromotionSerializer})
    def create(self, request, *args, **kwargs):
        data = PromotionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        version = training_selectors.model_version_get(user=request.user, pk=fields["model_version"])
        promotion = services.promotion_request_create(
            user=request.user,
            model_version=version,
            target_stage=fields["target_stage"],
            reason=fields["reason"],
            risk_acceptance=fields["risk_acceptance"],
        )
        promotion = selectors.promotion_get(user=request.user, pk=promotion.pk)
        return Response(PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)

    def _answer(self, promotion):
        return Response(
            PromotionSerializer(selectors.promotion_get(user=self.request.user, pk=promotion.pk)).data
        )

    @extend_schema(request=ApproveSerializer, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        promotion = self.get_object()  # another team's request is a 404 before its body is read
        data = ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = services.promotion_approve(promotion=promotion, user=request.user, **data.validated_data)
        return self._answer(promotion)

    @extend_schema(request=RejectSerializer, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        promotion = self.get_object()  # another team's request is a 404 before its body is read
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = services.promotion_reject(promotion=promotion, user=request.user, **data.validated_data)
        return self._answer(promotion)

    @extend_schema(request=None, responses=PromotionSerializer)
    @action(detail=True, methods=["post"], url_path="refresh-evidence")
    def refresh_evidence(self, request, pk=None):
        """Take the newest evidence (eval run, spec version) and void the approvals given on the old."""
        promotion = self.get_object()
        services.promotion_evidence_refresh(promotion=promotion, user=request.user)
        return self._answer(promotion)

    @extend_schema(request=None, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._answer(services.promotion_withdraw(promotion=self.get_object(), user=request.user))

    @extend_schema(request=RollbackSerializer, responses=ModelVersionSerializer)
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        """Restore the project's previous production version (the endpoint follows at once)."""
        data = RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_selectors.project_get(user=request.user, pk=data.validated_data["project"])
        restored = services.production_rollback(
            project=project, user=request.user, reason=data.validated_data["reason"]
        )
        return Response(ModelVersionSerializer(restored).data)

    @extend_schema(request=RollbackDrillSerializer, responses=StageChangeSerializer)
    @action(detail=False, methods=["post"], url_path="rollback-drill")
    def rollback_drill(self, request):
        """Practise the rollback on staging; the answer records how long it took."""
        data = RollbackDrillSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_selectors.project_get(user=request.user, pk=data.validated_data["project"])
        return Response(
            StageChangeSerializer(services.staging_rollback_drill(project=project, user=request.user)).data
        )


class ModelVersionGovernanceViewSet(viewsets.GenericViewSet):
    """Governance under `model-versions/{id}/`: the model card, its review, retirement, stage history."""

    serializer_class = ModelCardSerializer

    def get_queryset(self):
        return training_selectors.model_version_list(user=self.request.user)

    @extend_schema(methods=["get"], request=None, responses=ModelCardSerializer)
    @extend_schema(methods=["patch"], request=ModelCardUpdateSerializer, responses=ModelCardSerializer)
    @action(detail=True, methods=["get", "patch"])
    def card(self, request, pk=None):
        version = self.get_object()  # before the body: another team's version is a 404
        if request.method == "PATCH":
            data = ModelCardUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            card = services.model_card_update(version=version, user=request.user, **data.validated_data)
        else:
            card = services.model_card_current(version)
        return Response(ModelCardSerializer(card).data)

    @extend_schema(request=None, responses=ModelCardSerializer)
    @action(detail=True, methods=["post"], url_path="card/submit")
    def card_submit(self, request, pk=None):
        return Response(
            ModelCardSerializer(services.model_card_submit(version=self.get_object(), user=request.user)).data
        )

    @extend_schema(request=None, responses=ModelCardSerializer)
    @action(detail=True, methods=["post"], url_path="card/approve")
    def card_approve(self, request, pk=None):
        return Response(
            ModelCardSerializer(
                services.model_card_approve(version=self.get_object(), user=request.user)
            ).data
        )

    @extend_schema(responses={(200, "text/markdown"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path="card/markdown", renderer_classes=FILE_RENDERERS)
    def card_markdown(self, request, pk=None):
        card = services.model_card_current(self.get_object())
        response = HttpResponse(
            services.model_card_markdown(card), content_type="text/markdown; charset=utf-8"
        )
        version = card.model_version
        response["Content-Disposition"] = (
            f'attachment; filename="model-card-{version.project.slug}-v{version.number}.md"'
        )
        return response

    @extend_schema(request=None, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """Retire the version: it can never be promoted again (its pending requests are withdrawn)."""
        version = services.model_version_retire(version=self.get_object(), user=request.user)
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(responses=StageChangeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="stage-history")
    def stage_history(self, request, pk=None):
        changes = selectors.stage_history(user=request.user, model_version=self.get_object())
        page = self.paginate_queryset(changes)  # paginated like every list (the schema says so)
        return self.get_paginated_response(StageChangeSerializer(page, many=True).data)
