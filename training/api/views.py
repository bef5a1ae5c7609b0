from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from projects import selectors as project_selectors
from studio.api.openapi import refuses
from studio.api.renderers import FILE_RENDERERS
from studio.errors import Forbidden
from training import selectors, services
from training.api.serializers import (
    BaseModelRegisterSerializer,
    BaseModelSerializer,
    MergedExportSerializer,
    ModelVersionSerializer,
    ModelVersionUpdateSerializer,
    TrainingJobCreateSerializer,
    TrainingJobEventSerializer,
    TrainingJobSerializer,
    TrainingMetricPointSerializer,
)


class BaseModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The base-model catalog. Administrators register local Hugging Face-format folders."""

    serializer_class = BaseModelSerializer
    lookup_field = "key"

    def get_queryset(self):
        return selectors.base_model_list(user=self.request.user)

    @extend_schema(request=BaseModelRegisterSerializer, responses={201: BaseModelSerializer})
    def create(self, request, *args, **kwargs):
        if not request.user.is_staff:
            raise Forbidden("Only administrators register base models.", code="permission_denied")
        data = BaseModelRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.base_model_register_folder(user=request.user, **data.validated_data)
        return Response(BaseModelSerializer(model).data, status=status.HTTP_201_CREATED)


class TrainingJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Fine-tuning jobs: create, follow (status, progress, metrics, events, curves), cancel, retry."""

    serializer_class = TrainingJobSerializer
    filterset_fields = ["project", "status"]

    def get_queryset(self):
        return selectors.training_job_list(user=self.request.user)

    @extend_schema(request=TrainingJobCreateSerializer, responses={201: TrainingJobSerializer})
    def create(self, request, *args, **kwargs):
        data = TrainingJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        project = project_selectors.project_get(user=request.user, pk=fields["project"])
        version = project_selectors.dataset_version_get(user=request.user, pk=fields["dataset_version"])
        base_model = (
            selectors.base_model_get(user=request.user, key=fields["base_model"])
            if fields.get("base_model")
            else None
        )
        job = services.training_job_create(
            project=project,
            user=request.user,
            dataset_version=version,
            base_model=base_model,
            method=fields["method"],
            preset=fields["preset"],
            hyperparameters=fields.get("hyperparameters"),
        )
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=TrainingJobEventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request, pk=None):
        job = self.get_object()
        page = self.paginate_queryset(job.events.all())
        return self.get_paginated_response(TrainingJobEventSerializer(page, many=True).data)

    @extend_schema(responses=TrainingMetricPointSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def curves(self, request, pk=None):
        job = self.get_object()
        return Response(TrainingMetricPointSerializer(job.metric_points.all(), many=True).data)

    @extend_schema(request=None, responses=TrainingJobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.training_job_cancel(job=self.get_object(), user=request.user)
        return Response(TrainingJobSerializer(job).data)

    @extend_schema(request=None, responses={201: TrainingJobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = services.training_job_retry(job=self.get_object(), user=request.user)
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Immutable model versions with lineage; only description and tags can change."""

    serializer_class = ModelVersionSerializer
    filterset_fields = ["project", "kind", "stage"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.model_version_list(user=self.request.user)

    @extend_schema(request=ModelVersionUpdateSerializer, responses=ModelVersionSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = ModelVersionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.model_version_update(
            version=self.get_object(), user=request.user, **data.validated_data
        )
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("artifact", str, enum=["adapter", "merged"], description="Default adapter.")
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], renderer_classes=FILE_RENDERERS)
    @refuses(409)
    def download(self, request, pk=None):
        return services.model_version_download(
            version=self.get_object(),
            user=request.user,
            artifact=request.query_params.get("artifact", "adapter"),
        ).response()

    @extend_schema(request=None, responses={200: MergedExportSerializer, 202: MergedExportSerializer})
    @action(detail=True, methods=["post"], url_path="export-merged")
    def export_merged(self, request, pk=None):
        ready = services.model_version_request_merged_export(version=self.get_object(), user=request.user)
        return Response({"ready": ready}, status=status.HTTP_200_OK if ready else status.HTTP_202_ACCEPTED)
