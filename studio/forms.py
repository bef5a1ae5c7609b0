"""Form pieces every app shares: a service's ApplicationError placed on its form, and date-time fields
whose cleaned value cannot overflow later."""

from datetime import UTC, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from studio.errors import ApplicationError


def add_service_error(form: forms.Form, error: ApplicationError) -> None:
    details = error.details if isinstance(error.details, dict) else {}
    placed = False
    for field, messages in details.items():
        if field in form.fields:
            for message in messages if isinstance(messages, list) else [messages]:
                form.add_error(field, str(message))
            placed = True
    if not placed:
        form.add_error(None, error.message)


def in_utc(value: datetime | None) -> datetime | None:
    """An aware date and time as UTC; refused when its UTC time falls outside years 1 to 9999.

    Django converts to UTC only when it saves or filters, so 9999-12-31T23:59-01:00 would otherwise pass
    validation and then end in an OverflowError.
    """
    if value is None or timezone.is_naive(value):
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise ValidationError("This date and time is out of range.", code="out_of_range") from error


class UTCDateTimeMixin:
    """For any DateTimeField subclass (forms, django-filter): the cleaned value is in UTC (see in_utc)."""

    def to_python(self, value):
        return in_utc(super().to_python(value))


class DateTimeField(UTCDateTimeMixin, forms.DateTimeField):
    """Django's DateTimeField, cleaned to UTC so that no accepted value overflows later."""
