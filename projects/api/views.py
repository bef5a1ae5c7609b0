from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from projects import selectors, services
from projects.api.serializers import (
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    PersonalAccessTokenCreatedSerializer,
    PersonalAccessTokenCreateSerializer,
    PersonalAccessTokenSerializer,
    TeamInputSerializer,
    TeamSerializer,
    TeamUpdateSerializer,
)
from projects.models import Membership
from studio.api.filters import TeamSlugFilterSet


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
        data = MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=self.get_object(), user=request.user, role=data.validated_data["role"]
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
        token, secret = services.personal_access_token_create(user=request.user, **data.validated_data)
        token.token = secret
        return Response(PersonalAccessTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PersonalAccessTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.personal_access_token_revoke(token=self.get_object(), user=request.user)
        return Response(PersonalAccessTokenSerializer(token).data)
