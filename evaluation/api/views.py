from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from evaluation import selectors, services
from evaluation.api.serializers import (
    ComparisonQuerySerializer,
    EvalResultQuerySerializer,
    EvalResultSerializer,
    EvalRunCreateSerializer,
    EvalRunSerializer,
    EvalSpecCreateSerializer,
    EvalSpecSerializer,
)
from projects import selectors as project_selectors
from studio.api.openapi import refuses
from studio.api.renderers import MarkdownRenderer
from training import selectors as training_selectors


class EvalSpecViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Eval spec versions: each is immutable; a product owner signs one, which locks it for gating."""

    serializer_class = EvalSpecSerializer
    filterset_fields = ["project"]

    def get_queryset(self):
        return selectors.eval_spec_list(user=self.request.user)

    @extend_schema(request=EvalSpecCreateSerializer, responses={201: EvalSpecSerializer})
    def create(self, request, *args, **kwargs):
        data = EvalSpecCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        project = project_selectors.project_get(user=request.user, pk=fields.pop("project"))
        note = fields.pop("note", "")
        spec = services.eval_spec_create(project=project, user=request.user, document=fields, note=note)
        return Response(EvalSpecSerializer(spec).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EvalSpecSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        spec = services.eval_spec_sign(spec=self.get_object(), user=request.user)
        return Response(EvalSpecSerializer(spec).data)


class EvalRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Eval runs of a model version against a signed spec: create, follow, cancel, read the results."""

    serializer_class = EvalRunSerializer
    filterset_fields = ["project", "model_version", "spec", "status"]

    def get_queryset(self):
        return selectors.eval_run_list(user=self.request.user)

    @extend_schema(request=EvalRunCreateSerializer, responses={201: EvalRunSerializer})
    def create(self, request, *args, **kwargs):
        data = EvalRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = training_selectors.model_version_get(
            user=request.user, pk=data.validated_data["model_version"]
        )
        spec = selectors.eval_spec_get(user=request.user, pk=data.validated_data["spec"])
        run = services.eval_run_create(user=request.user, model_version=version, spec=spec)
        return Response(EvalRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EvalRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = services.eval_run_cancel(run=self.get_object(), user=request.user)
        return Response(EvalRunSerializer(run).data)

    @extend_schema(parameters=[EvalResultQuerySerializer], responses=EvalResultSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def results(self, request, pk=None):
        run = self.get_object()
        query = EvalResultQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = dict(query.validated_data)
        if "correct" in fields:
            fields["correct"] = {"true": True, "false": False, "none": "none"}[fields["correct"]]
        page = self.paginate_queryset(selectors.eval_result_list(run=run, **fields))
        return self.get_paginated_response(EvalResultSerializer(page, many=True).data)


class ComparisonViewSet(viewsets.ViewSet):
    """A candidate model version (the id) against a reference (production, else the baseline, or
    `?against=`), both run on the same signed spec: deltas, flips, config and lineage diff, and the
    one-page release diff (`?format=md` downloads it as Markdown)."""

    renderer_classes = [JSONRenderer, MarkdownRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="The candidate model version."),
            ComparisonQuerySerializer,
            OpenApiParameter(
                "format", str, enum=["json", "md"], description="md: the release diff as Markdown."
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR),
        },
    )
    @refuses(409)
    def retrieve(self, request, pk=None):
        query = ComparisonQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        candidate = training_selectors.model_version_get(user=request.user, pk=pk)
        if fields.get("against"):
            reference = training_selectors.model_version_get(user=request.user, pk=fields["against"])
        else:
            reference = selectors.comparison_default_reference(user=request.user, candidate=candidate)
        spec = selectors.eval_spec_get(user=request.user, pk=fields["spec"]) if fields.get("spec") else None
        comparison = services.comparison_build(request.user, candidate, reference, spec=spec)
        if request.accepted_renderer.format == "md":
            filename = f"release-diff-v{comparison['a']['number']}-vs-v{comparison['b']['number']}.md"
            return Response(
                services.comparison_markdown(comparison),
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return Response(comparison)
