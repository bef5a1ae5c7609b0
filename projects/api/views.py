from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from projects import selectors, services
from projects.api.serializers import (
    CharterCreateSerializer,
    CharterDiffQuerySerializer,
    CharterDiffSerializer,
    CharterSerializer,
    DatasetCardSerializer,
    DatasetImportSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
    DatasetVersionMergeSerializer,
    DatasetVersionSerializer,
    DatasetVersionSplitSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    PersonalAccessTokenCreatedSerializer,
    PersonalAccessTokenCreateSerializer,
    PersonalAccessTokenSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    TeamInputSerializer,
    TeamSerializer,
    TeamUpdateSerializer,
)
from projects.authentication import signing_token
from projects.charters import charter_diff
from projects.models import Membership
from studio.api.filters import TeamSlugFilterSet
from studio.api.openapi import refuses
from studio.api.parsers import JSONParser
from studio.api.renderers import FILE_RENDERERS
from studio.errors import NotFound


@extend_schema_view(partial_update=extend_schema(request=TeamUpdateSerializer, responses=TeamSerializer))
class TeamViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Teams you belong to (governance reviewers see every team)."""

    serializer_class = TeamSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.team_list(user=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action == "list":
            # One query for the caller's roles across the page instead of one per team.
            roles = dict(
                Membership.objects.filter(user_id=self.request.user.pk).values_list("team_id", "role")
            )
            self.request.user.__dict__.setdefault("_studio_roles", {}).update(roles)
        return context

    @extend_schema(request=TeamInputSerializer, responses={201: TeamSerializer})
    def create(self, request, *args, **kwargs):
        data = TeamInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(user=request.user, **data.validated_data)
        return Response(TeamSerializer(team, context=self.get_serializer_context()).data, status=201)

    @extend_schema(request=TeamUpdateSerializer, responses=TeamSerializer)
    def update(self, request, *args, **kwargs):
        data = TeamUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        team = services.team_update(team=self.get_object(), user=request.user, **data.validated_data)
        return Response(TeamSerializer(team, context=self.get_serializer_context()).data)


class MemberViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Members of the teams you can see; team owners add, re-role and remove them."""

    serializer_class = MembershipSerializer
    filterset_class = TeamSlugFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.membership_list(user=self.request.user)

    @extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer})
    def create(self, request, *args, **kwargs):
        data = MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = selectors.team_get(user=request.user, slug=data.validated_data["team"])
        membership = services.membership_add(
            team=team, user=request.user, login=data.validated_data["user"], role=data.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MembershipUpdateSerializer, responses=MembershipSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = MembershipUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        membership = self.get_object()
        if "role" in data.validated_data:  # PATCH {} changes nothing, as for every other resource
            membership = services.membership_change_role(
                membership=membership, user=request.user, role=data.validated_data["role"]
            )
        return Response(MembershipSerializer(membership).data)

    def perform_destroy(self, instance):
        services.membership_remove(membership=instance, user=self.request.user)


class PersonalAccessTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your personal access tokens. The secret is returned once, by create."""

    serializer_class = PersonalAccessTokenSerializer

    def get_queryset(self):
        return selectors.personal_access_token_list(user=self.request.user)

    @extend_schema(
        request=PersonalAccessTokenCreateSerializer, responses={201: PersonalAccessTokenCreatedSerializer}
    )
    def create(self, request, *args, **kwargs):
        data = PersonalAccessTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = services.personal_access_token_create(
            user=request.user, via_token=signing_token(request), **data.validated_data
        )
        token.token = secret
        return Response(PersonalAccessTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PersonalAccessTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.personal_access_token_revoke(
            token=self.get_object(), user=request.user, via_token=signing_token(request)
        )
        return Response(PersonalAccessTokenSerializer(token).data)


@extend_schema_view(
    partial_update=extend_schema(request=ProjectUpdateSerializer, responses=ProjectSerializer)
)
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects of the teams you can see. `?team=<slug>` narrows the list."""

    serializer_class = ProjectSerializer
    filterset_class = TeamSlugFilterSet

    def get_queryset(self):
        return selectors.project_list(user=self.request.user)

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def create(self, request, *args, **kwargs):
        data = ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        team = selectors.team_get(user=request.user, slug=fields.pop("team"))
        project = services.project_create(team=team, user=request.user, **fields)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectSerializer)
    def update(self, request, *args, **kwargs):
        data = ProjectUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        project = services.project_update(project=self.get_object(), user=request.user, **data.validated_data)
        return Response(ProjectSerializer(project).data)


class CharterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Charter versions. Creating one writes the project's next version; versions never change."""

    serializer_class = CharterSerializer
    filterset_fields = ["project"]

    def get_queryset(self):
        return selectors.charter_list(user=self.request.user)

    @extend_schema(request=CharterCreateSerializer, responses={201: CharterSerializer})
    def create(self, request, *args, **kwargs):
        data = CharterCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        project = selectors.project_get(user=request.user, pk=fields.pop("project"))
        charter = services.charter_create_version(project=project, user=request.user, **fields)
        return Response(CharterSerializer(charter).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[CharterDiffQuerySerializer], responses=CharterDiffSerializer)
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        head = self.get_object()
        query = CharterDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        number = query.validated_data.get("against", head.version - 1)
        base = head.project.charters.filter(version=number).first()
        if base is None:
            raise NotFound(f"Charter version {number} does not exist.")
        older, newer = sorted((base, head), key=lambda c: c.version)
        return Response({"base": older.version, "head": newer.version, "changes": charter_diff(older, newer)})


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Datasets and their data cards. Upload (multipart) creates a dataset, or a new version of one."""

    serializer_class = DatasetSerializer
    filterset_fields = ["project", "kind"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return selectors.dataset_list(user=self.request.user).prefetch_related("versions")

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={
            201: DatasetVersionSerializer,
            202: OpenApiResponse(
                DatasetImportSerializer,
                description="A file over STUDIO_UPLOAD_INLINE_BYTES: stored, and checked on a worker; "
                "follow the import at `url` (also the Location header).",
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        """Small files are checked in the request (201, the new version); larger ones are stored as they
        stream in and checked on a worker (202, a dataset import to follow)."""
        upload = request.data.get("file")
        if hasattr(upload, "read"):  # a spreadsheet is answered as such, before its bytes fill other fields
            services.dataset_file_check_text(file=upload, filename=upload.name or "")
        data = DatasetUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        dataset = (
            selectors.dataset_get(user=request.user, pk=fields["dataset"]) if fields.get("dataset") else None
        )
        project = (
            dataset.project if dataset else selectors.project_get(user=request.user, pk=fields["project"])
        )
        mapping = {k: fields[f"{k}_column"] for k in ("input", "output") if fields.get(f"{k}_column")}
        upload = fields["file"]
        arguments = {
            "project": project,
            "user": request.user,
            "file": upload,
            "filename": upload.name,
            "name": fields.get("name", ""),
            "dataset": dataset,
            "kind": fields["kind"],
            "fmt": fields.get("format"),
            "column_mapping": {"input_column": mapping.get("input"), "output_column": mapping.get("output")}
            if mapping
            else None,
            "split_seed": fields["split_seed"],
            "card": {k: fields[k] for k in services.CARD_FIELDS if k in fields},
        }
        if upload.size > settings.STUDIO_UPLOAD_INLINE_BYTES:
            record = services.dataset_import_create(**arguments)
            body = DatasetImportSerializer(record).data
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
        version = services.dataset_upload(**arguments)
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DatasetCardSerializer, responses=DatasetSerializer)
    @action(detail=True, methods=["patch"])
    def card(self, request, pk=None):
        data = DatasetCardSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_card_update(
            dataset=self.get_object(), user=request.user, **data.validated_data
        )
        return Response(DatasetSerializer(dataset).data)


class DatasetVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Immutable dataset versions: stats, PII findings, splits, lineage; redact, re-split, merge, download."""

    serializer_class = DatasetVersionSerializer
    filterset_fields = ["dataset"]

    def get_queryset(self):
        return selectors.dataset_version_list(user=self.request.user)

    @extend_schema(request=None, responses={201: DatasetVersionSerializer})
    @action(detail=True, methods=["post"])
    def redact(self, request, pk=None):
        version = services.dataset_version_redact(version=self.get_object(), user=request.user)
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DatasetVersionSplitSerializer, responses={201: DatasetVersionSerializer})
    @action(detail=True, methods=["post"])
    def split(self, request, pk=None):
        version = self.get_object()  # an outsider's id is a 404 before the body is read
        data = DatasetVersionSplitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = services.dataset_version_resplit(
            version=version, user=request.user, seed=fields.pop("seed"), split_ratios=fields
        )
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DatasetVersionMergeSerializer, responses={201: DatasetVersionSerializer})
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        version = self.get_object()  # an outsider's id is a 404 before the body is read
        data = DatasetVersionMergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        other = selectors.dataset_version_get(user=request.user, pk=data.validated_data["other"])
        version = services.dataset_version_merge(version=version, other=other, user=request.user)
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("export", str, enum=["jsonl", "csv"], description="File format (default jsonl).")
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=FILE_RENDERERS)
    @refuses(403)
    def download(self, request, pk=None):
        return services.dataset_version_download(
            version=self.get_object(), user=request.user, export=request.query_params.get("export", "jsonl")
        ).response()


class DatasetImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Large uploads being checked on a worker: status, rows and bytes read, the errors with their line
    and field, and the dataset version made. `?project=` narrows the list."""

    serializer_class = DatasetImportSerializer
    filterset_fields = ["project", "status"]

    def get_queryset(self):
        return selectors.dataset_import_list(user=self.request.user)
