"""The base-model catalog's writes."""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_event_record
from studio.errors import Conflict, InvalidInput
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
