"""A small JSON Schema validator for extraction outputs (no dependency).

Supported keywords: type (a name or a list), properties, required, additionalProperties (bool or
schema), enum, const, items (one schema), minItems/maxItems, minimum/maximum,
exclusiveMinimum/exclusiveMaximum (numbers), minLength/maxLength, pattern (re.search, as JSON
Schema specifies). Other keywords are ignored. Booleans are never numbers, integers may be written
as 3.0 only if they are integral floats. Errors name the path, e.g. "output.entities[0].name".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .jsonstrict import join_path

_TYPE_NAMES = {"string", "number", "integer", "boolean", "object", "array", "null"}


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    message: str
    keyword: str


class SchemaError(ValueError):
    """The schema itself is unusable (unknown type name, bad pattern, wrong keyword type)."""


def _json_type_ok(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    return value is None  # "null"


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class SchemaValidator:
    """Compile once (patterns, type lists), validate many values."""

    def __init__(self, schema: dict[str, Any]):
        if not isinstance(schema, dict):
            raise SchemaError("The output schema must be a JSON object.")
        self.schema = schema
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._check(schema, "$")

    def _check(self, schema: Any, where: str) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise SchemaError(f"{where}: a schema must be an object.")
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else types
            if not isinstance(names, list) or not all(n in _TYPE_NAMES for n in names):
                raise SchemaError(f"{where}: unknown type {types!r}.")
        if "pattern" in schema:
            try:
                self._patterns[schema["pattern"]] = re.compile(schema["pattern"])
            except (re.error, TypeError) as exc:
                raise SchemaError(f"{where}: bad pattern {schema['pattern']!r}: {exc}") from None
        if "enum" in schema and not isinstance(schema["enum"], list):
            raise SchemaError(f"{where}: enum must be a list.")
        if "required" in schema and not isinstance(schema["required"], list):
            raise SchemaError(f"{where}: required must be a list.")
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise SchemaError(f"{where}: properties must be an object.")
        for name, sub in properties.items():
            self._check(sub, f"{where}.properties.{name}")
        for keyword in ("additionalProperties", "items"):
            if keyword in schema:
                self._check(schema[keyword], f"{where}.{keyword}")

    def validate(self, value: Any, path: str = "output", limit: int = 10) -> list[Violation]:
        found: list[Violation] = []
        self._validate(value, self.schema, path, found, limit)
        return found

    def _validate(self, value: Any, schema: Any, path: str, found: list[Violation], limit: int) -> None:
        if len(found) >= limit:
            return
        if schema is True:
            return
        if schema is False:
            found.append(Violation(path, "No value is allowed here.", "false"))
            return
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else types
            if not any(_json_type_ok(value, name) for name in names):
                expected = " or ".join(names)
                found.append(Violation(path, f"Expected {expected}, got {_type_of(value)}.", "type"))
                return
        if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
            found.append(Violation(path, f"{value!r} is not one of {schema['enum']!r}.", "enum"))
        if "const" in schema and not _equal(value, schema["const"]):
            found.append(Violation(path, f"{value!r} is not {schema['const']!r}.", "const"))

        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                found.append(Violation(path, f"Shorter than {schema['minLength']} characters.", "minLength"))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                found.append(Violation(path, f"Longer than {schema['maxLength']} characters.", "maxLength"))
            pattern = schema.get("pattern")
            if pattern is not None and not self._patterns[pattern].search(value):
                found.append(Violation(path, f"Does not match pattern {pattern!r}.", "pattern"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                found.append(Violation(path, f"{value} is less than {schema['minimum']}.", "minimum"))
            if "maximum" in schema and value > schema["maximum"]:
                found.append(Violation(path, f"{value} is greater than {schema['maximum']}.", "maximum"))
            low = schema.get("exclusiveMinimum")
            if isinstance(low, int | float) and not isinstance(low, bool) and value <= low:
                found.append(Violation(path, f"{value} is not greater than {low}.", "exclusiveMinimum"))
            high = schema.get("exclusiveMaximum")
            if isinstance(high, int | float) and not isinstance(high, bool) and value >= high:
                found.append(Violation(path, f"{value} is not less than {high}.", "exclusiveMaximum"))
        elif isinstance(value, dict):
            properties = schema.get("properties", {})
            for name in schema.get("required", ()):
                if name not in value:
                    message = f"Required property {name!r} is missing."
                    found.append(Violation(join_path(path, name), message, "required"))
            additional = schema.get("additionalProperties", True)
            for name, child in value.items():
                child_path = join_path(path, name)
                if name in properties:
                    self._validate(child, properties[name], child_path, found, limit)
                elif additional is False:
                    message = f"Property {name!r} is not allowed."
                    found.append(Violation(child_path, message, "additionalProperties"))
                elif isinstance(additional, dict):
                    self._validate(child, additional, child_path, found, limit)
        elif isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                found.append(Violation(path, f"Fewer than {schema['minItems']} items.", "minItems"))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                found.append(Violation(path, f"More than {schema['maxItems']} items.", "maxItems"))
            items = schema.get("items")
            if isinstance(items, dict | bool):
                for index, child in enumerate(value):
                    self._validate(child, items, join_path(path, index), found, limit)


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: true is not 1, 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    return left == right
