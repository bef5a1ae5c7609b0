"""The review queue closes the loop: reviewed escalations become a new version of the training data."""

import json

import pytest

from audit.models import AuditEvent
from projects.choices import DatasetOperation
from serving import services
from serving.choices import ReviewStatus, Route
from serving.models import ReviewItem
from serving.tests.factories import project_in_production, published
from studio.errors import Conflict, Forbidden, InvalidInput

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(team, owner, settings):
    project, _ = project_in_production(team=team, owner=owner, settings=settings)
    return published(project=project, user=owner, routing_threshold=0.5)


def escalate(endpoint, text, answer):
    log = services.request_log_record(
        endpoint=endpoint,
        status_code=200,
        route=Route.ESCALATE,
        confidence=0.31,
        input_text=text,
        output_text=answer,
    )
    return log.review_item


def test_corrections_and_confirmations_become_a_new_dataset_version(endpoint, owner, ml_engineer):
    corrected = escalate(endpoint, "Parcel 77 never came, mail me at joe@corp.io", "billing")
    confirmed = escalate(endpoint, "I was charged twice for invoice 9", "billing")
    untouched = escalate(endpoint, "Please take back order 5", "shipping")
    services.review_item_correct(item=corrected, user=ml_engineer, corrected_output="shipping")
    services.review_item_confirm(item=confirmed, user=owner)

    source = endpoint.project.model_versions.get(stage="production").dataset_version
    new_version = services.review_items_export(endpoint=endpoint, user=ml_engineer)

    assert new_version.dataset == source.dataset and new_version.parent == source
    assert new_version.operation == DatasetOperation.REVIEWED_EXAMPLES
    assert new_version.row_count == source.row_count + 2
    rows = [json.loads(line) for line in new_version.rows_path.read_text().splitlines()]
    assert rows[-2:] == [
        {"input": "Parcel 77 never came, mail me at <EMAIL>", "output": "shipping"},
        {"input": "I was charged twice for invoice 9", "output": "billing"},
    ]
    statuses = dict(ReviewItem.objects.values_list("pk", "status"))
    assert statuses[untouched.pk] == ReviewStatus.PENDING
    assert set(ReviewItem.objects.filter(exported_to=new_version).values_list("pk", flat=True)) == {
        corrected.pk,
        confirmed.pk,
    }
    assert {"review_item.correct", "review_item.confirm", "review_item.export"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )
    with pytest.raises(Conflict):  # nothing new to add
        services.review_items_export(endpoint=endpoint, user=ml_engineer)


def test_a_review_happens_once_with_a_valid_label(endpoint, owner):
    item = escalate(endpoint, "Where is my parcel?", "billing")
    with pytest.raises(InvalidInput):
        services.review_item_correct(item=item, user=owner, corrected_output="not-a-label")
    with pytest.raises(InvalidInput):
        services.review_item_correct(item=item, user=owner, corrected_output="  ")
    services.review_item_correct(item=item, user=owner, corrected_output="shipping")
    with pytest.raises(Conflict):
        services.review_item_confirm(item=item, user=owner)
    item.refresh_from_db()
    assert item.status == ReviewStatus.CORRECTED and item.reviewer == owner


def test_viewers_cannot_review(endpoint, viewer):
    item = escalate(endpoint, "Where is my parcel?", "billing")
    with pytest.raises(Forbidden):
        services.review_item_confirm(item=item, user=viewer)
