"""Notifications: a line in each recipient's inbox, and an e-mail (console backend by default)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from governance.models import Notification, PromotionRequest

logger = logging.getLogger(__name__)


def notify(*, recipients: Iterable, subject: str, body: str = "", url: str = "", promotion=None) -> int:
    """Write inbox notifications (in the caller's transaction) and e-mail them once it commits."""
    people = {user.pk: user for user in recipients if user is not None}.values()
    rows = Notification.objects.bulk_create(
        [
            Notification(recipient=u, subject=subject[:200], body=body, url=url, promotion=promotion)
            for u in people
        ]
    )
    addresses = sorted({user.email for user in people if user.email})
    if addresses:
        message = f"{body}\n\n{url}" if url else body

        def send() -> None:
            try:
                send_mail(subject[:200], message, settings.DEFAULT_FROM_EMAIL, addresses)
            except OSError:  # the inbox already holds it; a mail server being down is not the user's error
                logger.warning("Could not e-mail notification %r to %s", subject, addresses, exc_info=True)

        transaction.on_commit(send)
    return len(rows)


def notification_mark_read(*, user, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications (all, or those listed) read; returns how many changed."""
    from django.utils import timezone

    queryset = Notification.objects.for_user(user).filter(read_at__isnull=True)
    if notification_ids is not None:
        queryset = queryset.filter(pk__in=list(notification_ids))
    return queryset.update(read_at=timezone.now())


def promotion_url(promotion: PromotionRequest) -> str:
    from django.urls import reverse

    return reverse("governance:promotion_detail", args=[promotion.pk])
