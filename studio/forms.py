"""Apply a service's ApplicationError to a Django form, so the browser shows it where it belongs."""

from django import forms

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
