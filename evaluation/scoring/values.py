"""JSON-ready values for stored results: Python numbers, and None where a value is undefined."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any


class AsDict:
    """Mixin for result dataclasses: `as_dict()` is what the evaluation app stores in a JSONField."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def number(value: Any) -> float | None:
    """A Python float, or None for NaN/inf (JSON has neither, PostgreSQL's jsonb refuses NaN)."""
    if value is None:
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def share(part: int, whole: int) -> float | None:
    """part / whole, None when there is nothing to divide."""
    return part / whole if whole else None
