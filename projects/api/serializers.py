from django.contrib.auth import get_user_model
from rest_framework import serializers

from projects.models import Membership, PersonalAccessToken, Team
from projects.roles import Role, role_in

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
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=60, required=False, allow_blank=True)
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
    user = serializers.CharField(help_text="Username or e-mail address of an existing user.")
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
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


class PersonalAccessTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class PersonalAccessTokenCreatedSerializer(PersonalAccessTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret. Shown once; store it now.")

    class Meta(PersonalAccessTokenSerializer.Meta):
        fields = [*PersonalAccessTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
