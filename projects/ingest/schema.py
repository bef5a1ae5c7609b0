"""A project's JSON Schema for extraction outputs: checked when saved, validated by `jsonschema`.

Draft 2020-12 with format checking (`date-time`, `email`, `uri`, `uuid`, …; `iri` and `iri-reference`
are not checked, see pyproject.toml). A schema is accepted only if

- it satisfies the Draft 2020-12 meta-schema (a keyword of the wrong type, such as
  `"minLength": "5"`, is refused with its path: `output_schema.properties.name.minLength`);
- every `pattern` and `patternProperties` regex compiles in RE2, the linear-time engine that
  evaluates them here: a crafted row can never make a pattern backtrack for seconds, and patterns
  that need backtracking (backreferences, lookarounds) are refused with RE2's reason;
- every `$ref` / `$dynamicRef` resolves inside the schema (nothing is fetched);
- it does not combine `unevaluatedProperties` with `patternProperties` (jsonschema evaluates that
  pair with Python's backtracking `re`, out of reach of the RE2 keywords installed here).

Errors name the path of the value, e.g. "output.entities[0].name"; a missing required property is
reported at the property's own path ("output.currency"), as the ingest errors always did.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from .jsonstrict import join_path

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the user's error, not a line on the server's stderr


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    message: str
    keyword: str


class SchemaError(ValueError):
    """The schema itself is unusable; `path` names the offending keyword, e.g. `output_schema.type`."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re2._Regexp:
    """RE2-compile a user-supplied regex; raises `re2.error` for what RE2 cannot run in linear time."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _refusal(pattern: str) -> str | None:
    """None if RE2 can run `pattern`, else the reason it is refused."""
    try:
        _compile(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return f"pattern {pattern!r} is refused: {reason} (only linear-time RE2 syntax is allowed)"
    return None


def _is_re2_regex(instance: object) -> bool:
    if isinstance(instance, str):
        _compile(instance)
    return True


def _format_checker() -> FormatChecker:
    """Every format jsonschema knows, with `regex` meaning "RE2 can run it"."""
    checker = FormatChecker()
    checker.checks("regex", raises=re2.error)(_is_re2_regex)
    return checker


# --- keywords that evaluate regexes, re-implemented on RE2 (jsonschema's own use Python's `re`) -------


def _pattern(validator, pattern, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compile(pattern).search(instance):
        yield ValidationError(f"Does not match the pattern {pattern!r}.")


def _pattern_properties(validator, pattern_properties, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        regex = _compile(pattern)
        for name, value in instance.items():
            if regex.search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_names(instance: dict, schema: dict) -> list[str]:
    properties = schema.get("properties", {})
    regexes = [_compile(pattern) for pattern in schema.get("patternProperties", {})]
    return [
        name
        for name in instance
        if name not in properties and not any(regex.search(name) for regex in regexes)
    ]


def _additional_properties(validator, additional, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional_names(instance, schema)
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False:
        for name in extras:
            yield ValidationError(f"Property {_shorten(repr(name))} is not allowed.", path=[name])


def _required(validator, required, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        if name not in instance:
            yield ValidationError(f"Required property {name!r} is missing.", path=[name])


_Validator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "required": _required,
    },
)
_META_VALIDATOR = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=_format_checker())


# --- checking the schema itself --------------------------------------------------------------------


def _meta_reason(error: ValidationError) -> str:
    if error.validator == "format" and isinstance(error.cause, re2.error):
        return _refusal(error.instance) or error.message
    if error.context:  # anyOf/oneOf in the meta-schema: say which branch came closest
        return f"{error.message} ({best_match(error.context).message})"
    return error.message


def _subschemas(resource: Resource) -> Iterator[Any]:
    yield resource.contents
    for sub in resource.subresources():
        yield from _subschemas(sub)


def _check_references(schema: dict, where: str) -> None:
    resource = DRAFT202012.create_resource(schema)
    resolver = Registry().with_resource("", resource).resolver(base_uri="")
    subschemas = [sub for sub in _subschemas(resource) if isinstance(sub, dict)]
    for sub in subschemas:
        for keyword in ("$ref", "$dynamicRef"):
            if keyword not in sub:
                continue
            try:
                resolver.lookup(sub[keyword])
            except Unresolvable:
                raise SchemaError(
                    join_path(where, keyword),
                    f"{sub[keyword]!r} does not resolve inside the schema "
                    "(only references such as '#/$defs/name' are allowed; nothing is fetched).",
                ) from None
    uses_unevaluated = any("unevaluatedProperties" in sub for sub in subschemas)
    if uses_unevaluated and any("patternProperties" in sub for sub in subschemas):
        raise SchemaError(
            join_path(where, "unevaluatedProperties"),
            "unevaluatedProperties cannot be combined with patternProperties; "
            "use additionalProperties instead.",
        )


def check_schema(schema: Any, where: str = "output_schema") -> None:
    """Raise SchemaError (path of the bad keyword, reason) unless `schema` is usable; see the module."""
    if not isinstance(schema, dict):
        raise SchemaError(where, "the schema must be a JSON object.")
    try:
        error = best_match(_META_VALIDATOR.iter_errors(schema))
        if error is None:
            _check_references(schema, where)
    except RecursionError:
        raise SchemaError(where, "the schema is nested too deeply.") from None
    if error is not None:
        path = where
        for key in error.absolute_path:
            path = join_path(path, key)
        raise SchemaError(path, _shorten(_meta_reason(error)))


# --- validating values ---------------------------------------------------------------------------


class SchemaValidator:
    """Check the schema once (see `check_schema`), then validate many values."""

    def __init__(self, schema: Any, where: str = "output_schema"):
        check_schema(schema, where)
        self.schema = schema
        self.where = where
        self._validator = _Validator(schema, format_checker=_format_checker())

    def validate(self, value: Any, path: str = "output", limit: int = 10) -> list[Violation]:
        """Up to `limit` violations, each at the path of the offending value under `path`.

        Raises SchemaError for a schema whose references loop without consuming the value.
        """
        try:
            errors = list(itertools.islice(self._validator.iter_errors(value), limit))
        except RecursionError:
            raise SchemaError(self.where, "the schema refers to itself without end ($ref loop).") from None
        return [_violation(error, path) for error in errors]

    def is_valid(self, value: Any) -> bool:
        return not self.validate(value, limit=1)


def _violation(error: ValidationError, base: str) -> Violation:
    """jsonschema's messages quote the offending value: cap them, the path already says where it is."""
    path = base
    for key in error.absolute_path:
        path = join_path(path, key)
    return Violation(path, _shorten(error.message), str(error.validator))
