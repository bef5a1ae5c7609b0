"""JSON from outside the studio, decoded within the bounds every later step can handle.

The standard decoder recurses once per nesting level, so 100,000 nested arrays end in a RecursionError,
and it turns the escapes "\\ud800" (a lone UTF-16 surrogate) and "\\u0000" into strings that cannot be
encoded as UTF-8 or stored (PostgreSQL refuses NUL in text and jsonb); it also accepts NaN, Infinity and
1e400 (infinite once decoded), which no later JSON encoder writes back as JSON. `BoundedJSONDecoder`
refuses those documents, naming the path of the offending value where it can, so every request body,
JSON form field and JSON-in-multipart field shares one rule. It is a `json.JSONDecoder`: pass it as
`cls=` to `json.loads`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64

# Only documents that could break a rule are walked after decoding: more brackets than the depth limit,
# or an escape (or raw character) that decodes to a surrogate or NUL.
_UNSAFE_TEXT_HINT = re.compile(r"\\u[dD][89a-fA-F]|\\u0000|[\ud800-\udfff\x00]")
_UNSAFE_CHARACTER = re.compile("[\ud800-\udfff\x00]")


class JSONRefused(ValueError):
    """A document that parses but may not enter the studio; `path` is the dotted path of the value."""

    def __init__(self, message: str, *, code: str, path: str):
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored as text (a lone surrogate, a NUL character), or None when it can."""
    found = _UNSAFE_CHARACTER.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Null characters are not allowed."
    return f"Lone surrogate characters are not allowed: U+{ord(found.group()):04X}."


def _nesting_refused(path: str) -> JSONRefused:
    return JSONRefused(
        f"The JSON is nested deeper than {MAX_DEPTH} levels.", code="nesting_too_deep", path=path
    )


def _check(value: Any) -> None:
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            if problem := text_problem(node):
                raise JSONRefused(problem, code="invalid_text", path=path)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= MAX_DEPTH:
            raise _nesting_refused(path)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            child_path = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (problem := text_problem(key)):
                raise JSONRefused(f"A key holds bad text. {problem}", code="invalid_text", path=path)
            stack.append((child, depth + 1, child_path))


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused(f"The number {text[:40]} is too large.", code="number_out_of_range", path="")
    return value


def _refuse_constant(text: str):
    raise JSONRefused(f"{text} is not a JSON number.", code="number_out_of_range", path="")


class BoundedJSONDecoder(json.JSONDecoder):
    """Decodes like `json.JSONDecoder`; raises JSONRefused (a ValueError) past the studio's bounds."""

    def __init__(self, **kwargs):
        kwargs.setdefault("parse_float", _finite_float)
        kwargs.setdefault("parse_constant", _refuse_constant)
        super().__init__(**kwargs)

    def decode(self, s: str, *args, **kwargs) -> Any:
        try:
            value = super().decode(s, *args, **kwargs)
        except RecursionError:
            raise _nesting_refused("") from None
        if s.count("[") + s.count("{") > MAX_DEPTH or _UNSAFE_TEXT_HINT.search(s):
            _check(value)
        return value


def loads(text: str | bytes, **kwargs) -> Any:
    """`json.loads` within the bounds; raises ValueError (JSONRefused or JSONDecodeError)."""
    return json.loads(text, cls=BoundedJSONDecoder, **kwargs)
