"""Whether a dataset version may be used to train: the charter's data classes and the retention window."""

from __future__ import annotations

from django.utils import timezone

from projects.choices import DataClass
from projects.models import DatasetVersion
from projects.selectors import charter_latest
from studio.errors import Conflict

_LABELS = dict(DataClass.choices)


_LATEST = object()


def training_block_reasons(version: DatasetVersion, *, charter=_LATEST) -> list[str]:
    """Plain-language reasons that forbid training on `version`; empty when it may be used.

    `charter` is the project's latest charter when the caller already has it (None: there is none)."""
    dataset = version.dataset
    reasons = []
    if charter is _LATEST:
        charter = charter_latest(project=dataset.project)
    if charter is None:
        reasons.append(
            "The project has no charter yet: write one that states which data classes it may process."
        )
    else:
        disallowed = [cls for cls in version.data_classes_found if cls not in charter.data_classes]
        if disallowed:
            found = ", ".join(f"{kind}: {count}" for kind, count in sorted(version.pii_summary.items()))
            classes = ", ".join(_LABELS.get(c, c).lower() for c in disallowed)
            reasons.append(
                f"{dataset.name} v{version.number} holds {classes} ({found}) that charter v{charter.version} "
                "does not allow. Redact the dataset or change the charter."
            )
    if dataset.retention_expired:
        reasons.append(
            f"{dataset.name} is past its retention window (ended {dataset.retention_until:%Y-%m-%d}); "
            "it cannot start new jobs."
        )
    return reasons


def assert_trainable(version: DatasetVersion) -> None:
    reasons = training_block_reasons(version)
    if reasons:
        raise Conflict(
            reasons[0],
            code="dataset_blocked_by_policy",
            details={"reasons": reasons, "checked_at": timezone.now().isoformat()},
        )
