"""The base-model catalog's writes."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from studio.errors import Conflict, InvalidInput
from studio.services import model_update
from training.models import BaseModel


@transaction.atomic
def base_model_register_folder(*, user, name: str, path: str) -> BaseModel:
    """Register a local Hugging Face-format folder (validated) as a base model (staff only)."""
    from pathlib import Path

    from django.utils.text import slugify

    from training.engine.base_models import validate_hf_folder
    from training.engine.errors import BaseModelInvalid

    if not user.is_staff:
        from studio.errors import Forbidden

        raise Forbidden("Only administrators register base models.", code="permission_denied")
    try:
        info = validate_hf_folder(Path(path))
    except BaseModelInvalid as error:
        raise InvalidInput(str(error), details={"path": [str(error)]}) from error
    source_length = BaseModel._meta.get_field("source").max_length
    if len(info["path"]) > source_length:
        message = f"The folder's full path is longer than {source_length} characters."
        raise InvalidInput(message, details={"path": [message]})
    key = slugify(name)[:100]
    if not key:
        raise InvalidInput("Give the model a name with letters or digits.", details={"name": ["No letters."]})
    if BaseModel.objects.filter(key=key).exists():
        raise Conflict(f"A base model called “{key}” exists.", code="duplicate", details={"name": [key]})
    model = BaseModel(
        key=key,
        name=name,
        source_type="local_folder",
        source=info["path"],
        architecture=info.get("architecture", ""),
        parameter_count=info.get("parameter_count"),
        context_length=info.get("context_length"),
        registered_by=user,
    )
    model.full_clean()
    model.save()
    audit_event_record(actor=user, action="base_model.register", target=model, payload={"path": model.source})
    return model


@transaction.atomic
def base_model_record_cache(
    *,
    base_model: BaseModel,
    source_checksum: str,
    weights_checksum: str,
    parameter_count: int | None,
    context_length: int | None,
    architecture: str,
) -> BaseModel:
    """Record what a worker found when it converted or validated the base model into its model cache.

    Nothing is written when the catalog already holds these checksums (every later job on every worker)."""
    base_model = BaseModel.objects.select_for_update().get(pk=base_model.pk)
    if base_model.weights_checksum == weights_checksum and base_model.cached_at is not None:
        return base_model
    cache = {
        "source_checksum": source_checksum,
        "weights_checksum": weights_checksum,
        "parameter_count": parameter_count,
        "context_length": context_length,
        "architecture": architecture,
        "cached_at": timezone.now(),
    }
    model_update(instance=base_model, fields=cache, data=cache)
    audit_event_record(
        actor=None,
        action="base_model.cache",
        target=base_model,
        payload={"weights_checksum": weights_checksum, "parameter_count": parameter_count},
    )
    return base_model
