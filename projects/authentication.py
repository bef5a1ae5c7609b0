"""`Authorization: Bearer <personal access token>` for integrations."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from projects.models import PersonalAccessToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use “Bearer <token>”.")
        secret = header[1].decode(errors="replace")
        token = (
            PersonalAccessToken.objects.select_related("user")
            .filter(token_hash=PersonalAccessToken.hash_secret(secret))
            .first()
        )
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("This token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
