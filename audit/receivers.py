"""Sign-ins are audited from Django's auth signals (the only hook the login view offers)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from audit.services import audit_event_record


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def audit_sign_in(sender, request, user, **kwargs):
    with transaction.atomic():
        audit_event_record(actor=user, action="auth.sign_in", target=user, payload=_client(request))


@receiver(user_login_failed, dispatch_uid="audit_user_login_failed")
def audit_failed_sign_in(sender, credentials, request=None, **kwargs):
    with transaction.atomic():
        audit_event_record(
            actor=None,
            action="auth.sign_in_failed",
            payload={"username": str(credentials.get("username", ""))[:150], **_client(request)},
        )


@receiver(user_locked_out, dispatch_uid="audit_user_locked_out")
def audit_sign_in_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    with transaction.atomic():
        audit_event_record(
            actor=None,
            action="auth.sign_in_locked_out",
            payload={"username": str(username or "")[:150], **_client(request), "ip": ip_address or ""},
        )


def _client(request) -> dict:
    if request is None:
        return {}
    return {
        "ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
    }
