"""The reviewers' admin console: the queue, approve and reject (with a comment) through the services,
evidence rendered and read-only, and an audit export holding every event of a full journey."""

from __future__ import annotations

import json

import pytest

from audit import chain
from audit.models import AuditEvent
from governance import services
from governance.models import PromotionRequest
from governance.tests.helpers import record_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def tier3(project, owner, make_version, signed_spec, production, ml_engineer, product_owner):
    """A tier-3 request (a new data source) with its ML engineer and product owner approvals given."""
    import io

    from projects import services as project_services
    from projects.tests.factories import classification_rows, jsonl_bytes

    chats = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(12))),
        filename="c.jsonl",
        name="Chats",
    )
    version = make_version(3, weights=b"chats", dataset_version=chats)
    record_run(version, signed_spec)
    promotion = services.promotion_request_create(
        user=owner, model_version=version, target_stage="production"
    )
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    services.promotion_approve(promotion=promotion, user=product_owner)
    return promotion


def test_a_reviewer_sees_every_teams_queue_and_approves_from_the_admin(client, tier3, reviewer):
    client.force_login(reviewer)
    queue = client.get("/admin/governance/promotionrequest/", {"queue": "mine"})
    assert queue.status_code == 200 and f">{tier3.pk}<".encode() in queue.content
    page = client.get(f"/admin/governance/promotionrequest/{tier3.pk}/change/")
    assert page.status_code == 200
    assert b'data-testid="evidence"' in page.content and b"accuracy &gt;= 0.8 on all" in page.content
    assert b'data-testid="admin-approve"' in page.content
    # people by name, roles by label; no link into the user admin a reviewer may not open
    body = page.content.decode()
    assert "/admin/auth/user/" not in body and tier3.requested_by.get_username() in body
    assert "Governance reviewer" in body and '"governance_reviewer"' not in body
    client.post(f"/admin/governance/promotionrequest/{tier3.pk}/approve/")
    tier3.refresh_from_db()
    tier3.model_version.refresh_from_db()
    assert (tier3.status, tier3.model_version.stage) == ("approved", "production")


def test_reject_in_the_admin_needs_a_comment(client, tier3, reviewer):
    client.force_login(reviewer)
    url = f"/admin/governance/promotionrequest/{tier3.pk}/reject/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"comment": ""}).status_code == 200  # the form again, with its error
    tier3.refresh_from_db()
    assert tier3.status == "pending"
    client.post(url, {"comment": "Chats hold personal data without a lawful basis"})
    tier3.refresh_from_db()
    assert (tier3.status, tier3.decision_comment) == (
        "rejected",
        "Chats hold personal data without a lawful basis",
    )


def test_the_bulk_reject_action_asks_for_a_comment(client, tier3, reviewer):
    client.force_login(reviewer)
    data = {"action": "reject_selected", "_selected_action": [tier3.pk]}
    page = client.post("/admin/governance/promotionrequest/", data)
    assert b"Rejecting ends" in page.content
    tier3.refresh_from_db()
    assert tier3.status == "pending"
    client.post("/admin/governance/promotionrequest/", {**data, "comment": "Not now"})
    tier3.refresh_from_db()
    assert tier3.status == "rejected"


def test_reviewers_cannot_edit_evidence_lineage_or_audit(client, tier3, reviewer):
    client.force_login(reviewer)
    evidence_before = tier3.evidence
    response = client.post(
        f"/admin/governance/promotionrequest/{tier3.pk}/change/",
        {"tier": 0, "evidence": "{}", "status": "approved"},
    )
    assert response.status_code == 403
    assert (
        client.post(f"/admin/governance/promotionrequest/{tier3.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/governance/promotionrequest/add/").status_code == 403
    version = tier3.model_version
    assert (
        client.post(f"/admin/training/modelversion/{version.pk}/change/", {"lineage": "{}"}).status_code
        == 403
    )
    event = AuditEvent.objects.filter(action="promotion.request").first()
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "forged"}).status_code == 403
    tier3.refresh_from_db()
    version.refresh_from_db()
    assert tier3.evidence == evidence_before and tier3.tier == 3 and version.lineage
    page = client.get(f"/admin/governance/promotionrequest/{tier3.pk}/change/")
    assert b'name="evidence"' not in page.content and b'name="tier"' not in page.content


def test_the_audit_export_holds_every_event_of_a_full_journey(
    client, tier3, reviewer, owner, django_capture_on_commit_callbacks
):
    client.force_login(reviewer)
    client.post(f"/admin/governance/promotionrequest/{tier3.pk}/approve/")
    services.production_rollback(project=tier3.project, user=owner, reason="Drill in production")
    exported = client.get("/admin/audit/auditevent/export/jsonl/")
    rows = [json.loads(line) for line in b"".join(exported.streaming_content).decode().splitlines()]
    assert [row["id"] for row in rows] == list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    actions = {row["action"] for row in rows}
    assert {
        "dataset.create",
        "eval_spec.sign",
        "promotion.request",
        "promotion.approve",
        "promotion.approved",
        "model_version.stage_change",
        "model_version.rollback",
    } <= actions
    assert chain.verify(rows).ok
    assert PromotionRequest.objects.get(pk=tier3.pk).status == "approved"
