"""What a charter holds and how two versions differ."""

from __future__ import annotations

from projects.choices import Automation, DataClass, ReleaseCadence, Residency

CHARTER_FIELDS = {
    "problem_statement": "Problem statement",
    "business_metric": "Business metric",
    "non_goals": "Non-goals",
    "data_classes": "Data classes allowed",
    "residency": "Residency",
    "automation": "Risk appetite",
    "confidence_threshold": "Confidence threshold",
    "release_cadence": "Release cadence",
    "rollback_expectation": "Rollback expectation",
    "success_measures": "Success measures",
}

_LABELS = {
    "data_classes": dict(DataClass.choices),
    "residency": dict(Residency.choices),
    "automation": dict(Automation.choices),
    "release_cadence": dict(ReleaseCadence.choices),
}


def display_value(field: str, value) -> str:
    if value in (None, "", []):
        return "—"
    if field == "data_classes":
        return ", ".join(_LABELS[field].get(v, v) for v in value)
    if field == "success_measures":
        return "; ".join(
            f"{m['metric']}: {m['baseline']:g} → {m['target']:g}"
            + ("" if m.get("higher_is_better", True) else " (lower is better)")
            for m in value
        )
    if field in _LABELS:
        return _LABELS[field].get(value, value)
    return str(value)


def charter_display_rows(charter) -> list[tuple[str, str]]:
    """Every charter field as (label, readable value), in the order the charter states them."""
    return [(label, display_value(field, getattr(charter, field))) for field, label in CHARTER_FIELDS.items()]


def charter_diff(before, after) -> list[dict]:
    """The fields that differ between two charter versions, with readable before/after values."""
    changes = []
    for field, label in CHARTER_FIELDS.items():
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            changes.append(
                {
                    "field": field,
                    "label": label,
                    "before": display_value(field, old),
                    "after": display_value(field, new),
                }
            )
    return changes
