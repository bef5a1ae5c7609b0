"""`Authorization: Bearer <personal access token>` for integrations; failed credentials are throttled."""

from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from audit.services import audit_event_record
from projects.models import PersonalAccessToken
from studio.throttling import FailedBearerThrottle, client_address


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use “Bearer <token>”.")
        throttle = FailedBearerThrottle(request)
        # Checked before the lookup: while an address is throttled a right guess answers like a wrong one.
        wait = throttle.wait_for()
        if wait is not None:
            raise exceptions.Throttled(
                wait, detail="Too many failed credentials from this address. Try again later."
            )
        secret = header[1].decode(errors="replace")
        token = (
            PersonalAccessToken.objects.select_related("user")
            .filter(token_hash=PersonalAccessToken.hash_secret(secret))
            .first()
        )
        if token is None or token.revoked_at is not None:
            self._fail(request, throttle, "Invalid or revoked token.")
        if token.is_expired:
            self._fail(request, throttle, "This token has expired.")
        if not token.user.is_active:
            self._fail(request, throttle, "This account is disabled.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    @staticmethod
    def _fail(request, throttle: FailedBearerThrottle, reason: str):
        if throttle.record_failure():
            with transaction.atomic():
                audit_event_record(
                    actor=None,
                    action="auth.bearer_throttled",
                    payload={
                        "ip": client_address(request),
                        "failures": throttle.num_requests,
                        "rate": throttle.rate,
                        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
                    },
                )
        raise exceptions.AuthenticationFailed(reason)

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def signing_token(request) -> PersonalAccessToken | None:
    """The personal access token that authenticated a DRF request; None for a browser session."""
    return request.auth if isinstance(request.auth, PersonalAccessToken) else None
