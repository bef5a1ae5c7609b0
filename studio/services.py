"""Write helpers every app's services share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models


def model_update(*, instance: models.Model, fields: Iterable[str], data: dict[str, Any]) -> dict[str, list]:
    """Set each of `fields` that `data` holds and that differs from the instance; if any did, validate
    the instance (`full_clean`) and save just those columns (and `updated_at` when the model has one).

    Returns what changed as {field: [before, after]}, the payload of the caller's audit event; empty
    when nothing did (and nothing was written). Call it inside the caller's transaction."""
    changes = {}
    for field in fields:
        if field in data and getattr(instance, field) != data[field]:
            changes[field] = [getattr(instance, field), data[field]]
            setattr(instance, field, data[field])
    if changes:
        instance.full_clean()
        update_fields = list(changes)
        if any(field.name == "updated_at" for field in instance._meta.concrete_fields):
            update_fields.append("updated_at")
        instance.save(update_fields=update_fields)
    return changes
