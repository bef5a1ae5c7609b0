"""The review queue: a person confirms or corrects an escalated answer, and reviewed examples become a new
version of the project's training data in one action."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from projects.choices import DatasetKind
from projects.models import DatasetVersion
from projects.roles import Action, require
from projects.services import dataset_version_add_reviewed
from serving.choices import ReviewStatus
from serving.models import Endpoint, ReviewItem
from serving.selectors import production_version, review_items_ready_to_export
from studio.errors import Conflict, InvalidInput

MAX_CORRECTION_CHARS = 20_000


def _review(*, item: ReviewItem, user, status: str, corrected_output: str = "") -> ReviewItem:
    require(user, item.endpoint.project.team, Action.REVIEW_ESCALATIONS)
    reviewed = ReviewItem.objects.filter(pk=item.pk, status=ReviewStatus.PENDING).update(
        status=status, corrected_output=corrected_output, reviewer=user, reviewed_at=timezone.now()
    )
    if not reviewed:
        raise Conflict("This answer has already been reviewed.", code="already_reviewed")
    item.refresh_from_db()
    audit_event_record(
        actor=user,
        action=f"review_item.{'confirm' if status == ReviewStatus.CONFIRMED else 'correct'}",
        target=item,
        payload={"endpoint": item.endpoint.slug, "request_log": item.request_log_id, "status": status},
    )
    return item


@transaction.atomic
def review_item_confirm(*, item: ReviewItem, user) -> ReviewItem:
    """The model's answer was right."""
    return _review(item=item, user=user, status=ReviewStatus.CONFIRMED)


@transaction.atomic
def review_item_correct(*, item: ReviewItem, user, corrected_output: str) -> ReviewItem:
    """The right answer, in the reviewer's words (for classification: one of the version's labels)."""
    corrected_output = (corrected_output or "").strip()
    if not corrected_output:
        raise InvalidInput("Write the correct answer.", details={"corrected_output": ["Required."]})
    if len(corrected_output) > MAX_CORRECTION_CHARS:
        raise InvalidInput(
            f"A correction is at most {MAX_CORRECTION_CHARS:,} characters.",
            details={"corrected_output": ["Too long."]},
        )
    labels = review_labels(item.endpoint)
    if labels and corrected_output not in labels:
        raise InvalidInput(
            "Choose one of the project's labels.",
            details={"corrected_output": [f"One of: {', '.join(labels)}."]},
        )
    return _review(item=item, user=user, status=ReviewStatus.CORRECTED, corrected_output=corrected_output)


def review_labels(endpoint: Endpoint) -> list[str]:
    if endpoint.project.task_type != "classification":
        return []
    version = production_version(endpoint.project)
    dataset_version = version.dataset_version if version else None
    return [str(label) for label in (dataset_version.labels if dataset_version else [])]


def review_export_target(endpoint: Endpoint) -> DatasetVersion | None:
    """The dataset version reviewed examples are added to: the latest version of the training dataset
    the production version was trained on."""
    version = production_version(endpoint.project)
    source = version.dataset_version if version else None
    if source is None or source.dataset.kind != DatasetKind.TRAINING:
        return None
    return source.dataset.versions.order_by("-number").first()


def review_items_export(*, endpoint: Endpoint, user) -> DatasetVersion:
    """Add every reviewed, not yet exported example (confirmed answers and corrections) to a new version
    of the training data; the items then point at that version.

    Not one transaction: the new dataset version is validated and stored by the projects service (files
    outside, its row inside its own transaction); the items are marked right after, in another."""
    require(user, endpoint.project.team, Action.MANAGE_DATASETS)
    target = review_export_target(endpoint)
    if target is None:
        raise Conflict(
            "The production version was not trained on a training dataset of this project.",
            code="no_training_dataset",
        )
    items = list(review_items_ready_to_export(endpoint=endpoint))
    rows = [
        {"input": item.request_log.input_text, "output": item.final_output}
        for item in items
        if item.request_log.input_text and item.final_output
    ]
    if not rows:
        raise Conflict("There are no reviewed examples with text to add.", code="nothing_to_add")
    new_version = dataset_version_add_reviewed(
        version=target,
        rows=rows,
        user=user,
        note=f"Added {len(rows)} reviewed examples from endpoint {endpoint.slug}",
    )
    with transaction.atomic():
        ReviewItem.objects.filter(pk__in=[item.pk for item in items]).update(exported_to=new_version)
        audit_event_record(
            actor=user,
            action="review_item.export",
            target=endpoint,
            payload={"dataset_version": new_version.pk, "items": len(items), "rows": len(rows)},
        )
    return new_version
