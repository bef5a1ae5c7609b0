"""Turn a pydantic ValidationError into the studio's InvalidInput with each field named."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from studio.errors import InvalidInput

T = TypeVar("T", bound=BaseModel)


def validation_details(error: ValidationError, prefix: str = "") -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "non_field_errors"
        message = item["msg"].removeprefix("Value error, ")
        details.setdefault(f"{prefix}{path}", []).append(message)
    return details


def parse(model: type[T], data, *, prefix: str = "", what: str = "input") -> T:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = validation_details(error, prefix)
        field, messages = next(iter(details.items()))
        raise InvalidInput(f"Invalid {what}: {field}: {messages[0]}", details=details) from error
