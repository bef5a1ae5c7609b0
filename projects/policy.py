"""What the charter's policy allows a dataset version: training (data classes and the retention window)
and downloading (personal data the charter does not allow stays inside the studio)."""

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
        disallowed = disallowed_data_classes(version, charter=charter)
        if disallowed:
            reasons.append(
                f"{_holding(version, disallowed)} that charter v{charter.version} does not allow. "
                "Redact the dataset or change the charter."
            )
    if dataset.retention_expired:
        reasons.append(
            f"{dataset.name} is past its retention window (ended {dataset.retention_until:%Y-%m-%d}); "
            "it cannot start new jobs."
        )
    return reasons


def disallowed_data_classes(version: DatasetVersion, *, charter=_LATEST) -> list[str]:
    """The data classes found in `version` that the charter does not allow (all of them without one)."""
    if charter is _LATEST:
        charter = charter_latest(project=version.dataset.project)
    allowed = charter.data_classes if charter is not None else []
    return [cls for cls in version.data_classes_found if cls not in allowed]


def _holding(version: DatasetVersion, classes: list[str]) -> str:
    found = ", ".join(f"{kind}: {count}" for kind, count in sorted(version.pii_summary.items()))
    labels = ", ".join(_LABELS.get(c, c).lower() for c in classes)
    return f"{version.dataset.name} v{version.number} holds {labels} ({found})"


def download_block_reason(version: DatasetVersion) -> str | None:
    """Why downloading `version` needs the right to redact it, or None when any team member may."""
    disallowed = disallowed_data_classes(version)
    if not disallowed:
        return None
    return (
        f"{_holding(version, disallowed)} that the project's charter does not allow. Downloading it needs "
        "the right to redact it (team owner, product owner or ML engineer); download a redacted version."
    )


def assert_trainable(version: DatasetVersion) -> None:
    reasons = training_block_reasons(version)
    if reasons:
        raise Conflict(
            reasons[0],
            code="dataset_blocked_by_policy",
            details={"reasons": reasons, "checked_at": timezone.now().isoformat()},
        )
