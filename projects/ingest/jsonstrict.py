"""Strict JSON parsing: the stdlib accepts NaN/Infinity and silently keeps the last duplicate key.

`loads_strict` rejects both, bounds the nesting depth, and names the path of the offending value
where it can. `canonical_json` is the content-addressable form used for extraction outputs.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 20


class StrictJSONError(ValueError):
    """A JSON document that parses but is not acceptable; `code` is an ingestion error code."""

    def __init__(self, code: str, message: str, path: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.details = details or {}


class _NonFinite:
    """Placeholder the decoder returns for NaN/Infinity so the walk can report the path."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _parse_float(text: str) -> Any:
    value = float(text)
    if math.isfinite(value):
        return value
    return _NonFinite(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs_hook, parse_constant=_NonFinite, parse_float=_parse_float
)
# Only lines that could hold a non-finite value are walked (a number overflows only with a long exponent).
_NONFINITE_HINT = re.compile(r"NaN|Infinity|[eE]\+?\d{3}")

_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, UTF-8 text (not \\u-escaped)."""
    return _CANONICAL.encode(value)


def join_path(base: str | None, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base or ''}[{key}]"
    return f"{base}.{key}" if base else key


def _find_non_finite(value: Any, path: str | None) -> tuple[str | None, str] | None:
    stack: list[tuple[Any, str | None]] = [(value, path)]
    while stack:
        node, node_path = stack.pop()
        if isinstance(node, _NonFinite):
            return node_path, node.text
        if isinstance(node, dict):
            stack.extend((child, join_path(node_path, key)) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, join_path(node_path, index)) for index, child in enumerate(node))
    return None


def _too_deep(value: Any, limit: int, path: str | None) -> tuple[bool, str | None]:
    """(True, path of the first container nested deeper than `limit`) or (False, None)."""
    stack: list[tuple[Any, int, str | None]] = [(value, 1, path)]
    while stack:
        node, depth, node_path = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True, node_path
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((child, depth + 1, join_path(node_path, key)) for key, child in items)
    return False, None


def loads_strict(text: str, *, path: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON document; raise json.JSONDecodeError or StrictJSONError.

    `path` prefixes the reported location (e.g. "output" for a JSON string held in an output field).
    """
    try:
        value = _DECODER.decode(text)
    except _DuplicateKey as exc:
        raise StrictJSONError(
            "duplicate_key", f"Duplicate key {exc.key!r} in a JSON object.", join_path(path, exc.key)
        ) from None
    except RecursionError:
        raise StrictJSONError(
            "nesting_too_deep", f"JSON nesting deeper than {max_depth} levels.", path
        ) from None
    if (text.count("{") + text.count("[")) > max_depth:
        too_deep, where = _too_deep(value, max_depth, path)
        if too_deep:
            raise StrictJSONError(
                "nesting_too_deep",
                f"JSON nesting deeper than {max_depth} levels.",
                where,
                {"limit": max_depth},
            )
    if _NONFINITE_HINT.search(text):
        found = _find_non_finite(value, path)
        if found is not None:
            where, literal = found
            raise StrictJSONError(
                "non_finite_number",
                f"Non-finite number {literal} is not allowed.",
                where,
                {"value": literal},
            )
    return value
