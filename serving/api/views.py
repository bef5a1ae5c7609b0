from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from projects import selectors as project_selectors
from projects.authentication import signing_token
from serving import selectors, services
from serving.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointSettingsSerializer,
)
from serving.filters import EndpointFilterSet
from studio.api.filters import TeamSlugFilterSet
from training import selectors as training_selectors

VERSION_FIELDS = ("shadow_version", "canary_version")


def _endpoint_settings(request, data: dict) -> dict:
    """Validated settings with model-version ids replaced by the versions the user may see (else 404)."""
    settings = dict(data)
    for field in VERSION_FIELDS:
        if settings.get(field) is not None:
            settings[field] = training_selectors.model_version_get(user=request.user, pk=settings[field])
    return settings


@extend_schema_view(
    partial_update=extend_schema(request=EndpointSettingsSerializer, responses=EndpointSerializer)
)
class EndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Published endpoints: a project's production version under a slug, with routing and limits."""

    serializer_class = EndpointSerializer
    lookup_field = "slug"
    lookup_value_regex = "[a-z0-9-]+"  # the slug's alphabet: anything else is a 404 before the database
    filterset_class = EndpointFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.endpoint_list(user=self.request.user)

    def get_object(self):
        return selectors.endpoint_get(user=self.request.user, slug=self.kwargs["slug"])

    @extend_schema(request=EndpointCreateSerializer, responses={201: EndpointSerializer})
    def create(self, request, *args, **kwargs):
        data = EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = _endpoint_settings(request, data.validated_data)
        project = project_selectors.project_get(user=request.user, pk=fields.pop("project"))
        endpoint = services.endpoint_publish(project=project, user=request.user, **fields)
        endpoint = selectors.endpoint_get(user=request.user, slug=endpoint.slug)
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        data = EndpointSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.endpoint_update(
            endpoint=endpoint, user=request.user, **_endpoint_settings(request, data.validated_data)
        )
        return Response(EndpointSerializer(self.get_object()).data)

    @extend_schema(methods=["get"], request=None, responses=ApiKeySerializer(many=True))
    @extend_schema(methods=["post"], request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def keys(self, request, slug=None):
        """The API keys that may call this endpoint; POST creates one (its secret is in this answer only)."""
        endpoint = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.api_key_list(user=request.user, endpoint=endpoint))
            return self.get_paginated_response(ApiKeySerializer(page, many=True).data)
        data = ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        team = endpoint.project.team
        others = [
            selectors.endpoint_get(user=request.user, slug=slug)
            for slug in dict.fromkeys(fields["also_endpoints"])
            if slug != endpoint.slug
        ]
        key, secret = services.api_key_create(
            user=request.user,
            team=team,
            name=fields["name"],
            endpoints=[endpoint, *others],
            expires_at=fields["expires_at"],
            rate_limit_per_minute=fields["rate_limit_per_minute"],
            via_token=signing_token(request),
        )
        key.key = secret
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The team's API keys (never their secrets) with their usage; revoke one."""

    serializer_class = ApiKeySerializer
    filterset_class = TeamSlugFilterSet

    def get_queryset(self):
        return selectors.api_key_list(user=self.request.user)

    def get_object(self):
        return selectors.api_key_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = services.api_key_revoke(
            key=self.get_object(), user=request.user, via_token=signing_token(request)
        )
        return Response(ApiKeySerializer(key).data)
