"""Governance pages: reachable by links, the request form, approve and reject from a request's page,
rollback, and another team's objects as 404."""

from __future__ import annotations

import re

import pytest

from governance import services
from governance.models import PromotionRequest

pytestmark = pytest.mark.django_db


def test_pages_are_linked_from_the_nav_the_model_page_and_the_project(client, candidate, owner):
    client.force_login(owner)
    home = client.get("/approvals/")
    assert home.status_code == 200 and b"/approvals/policy/" in home.content
    model_page = client.get(f"/models/{candidate.pk}/")
    assert f"/models/{candidate.pk}/governance/".encode() in model_page.content
    project_page = client.get(f"/projects/{candidate.project_id}/")
    assert f"/projects/{candidate.project_id}/releases/".encode() in project_page.content
    for url in (
        f"/models/{candidate.pk}/governance/",
        f"/projects/{candidate.project_id}/releases/",
        "/approvals/policy/",
    ):
        assert client.get(url).status_code == 200, url
    policy = client.get("/approvals/policy/").content.decode()
    assert (
        "Nobody: the policy approves it" in policy
        and "ML engineer + Product owner + Governance reviewer" in policy
    )


def test_a_request_made_in_the_ui_is_approved_from_its_page(client, candidate, product_owner, ml_engineer):
    client.force_login(product_owner)
    response = client.post(
        f"/models/{candidate.pk}/governance/", {"target_stage": "production", "reason": "Better"}
    )
    promotion = PromotionRequest.objects.get(model_version=candidate)
    assert response.url == f"/promotions/{promotion.pk}/"
    page = client.get(response.url)
    assert b'data-testid="approve-form"' not in page.content  # the requester cannot approve

    client.force_login(ml_engineer)
    inbox = client.get("/approvals/").content.decode()
    assert f"/promotions/{promotion.pk}/" in inbox
    page = client.get(f"/promotions/{promotion.pk}/")
    assert b'data-testid="approve-form"' in page.content and b"accuracy &gt;= 0.8 on all" in page.content
    approved = client.post(f"/promotions/{promotion.pk}/approve/", {"role": "ml_engineer"}, follow=True)
    candidate.refresh_from_db()
    assert candidate.stage == "production"
    assert f"Approved: v{candidate.number} is now in production." in approved.content.decode()


def test_an_approval_that_is_not_the_last_says_whose_are_still_missing(
    client, candidate, product_owner, ml_engineer
):
    client.force_login(product_owner)
    client.post(f"/models/{candidate.pk}/governance/", {"target_stage": "production", "reason": "Better"})
    promotion = PromotionRequest.objects.get(model_version=candidate)
    promotion.required_roles = ["ml_engineer", "governance_reviewer"]
    promotion.save(update_fields=["required_roles"])
    client.force_login(ml_engineer)
    page = client.post(f"/promotions/{promotion.pk}/approve/", {"role": "ml_engineer"}, follow=True)
    assert (
        "Your approval is recorded (1 of 2). Still waiting for: Governance reviewer." in page.content.decode()
    )
    candidate.refresh_from_db()
    assert candidate.stage != "production"


def test_reject_from_the_page_needs_a_comment(client, candidate, product_owner, ml_engineer):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="staging"
    )
    client.force_login(ml_engineer)
    client.post(f"/promotions/{promotion.pk}/reject/", {"comment": ""})
    promotion.refresh_from_db()
    assert promotion.status == "pending"
    client.post(f"/promotions/{promotion.pk}/reject/", {"comment": "Too weak on billing"})
    promotion.refresh_from_db()
    assert promotion.status == "rejected"


def test_rollback_from_the_releases_page(client, candidate, production, product_owner, ml_engineer):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    client.force_login(ml_engineer)
    client.post(f"/projects/{candidate.project_id}/releases/", {"reason": "Wrong answers on refunds"})
    production.refresh_from_db()
    assert production.stage == "production"
    page = client.get(f"/projects/{candidate.project_id}/releases/").content.decode()
    assert "Wrong answers on refunds" in page


def test_another_teams_governance_pages_are_404(client, candidate, product_owner, outsider):
    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="staging"
    )
    client.force_login(outsider)
    for url in (
        f"/promotions/{promotion.pk}/",
        f"/models/{candidate.pk}/governance/",
        f"/models/{candidate.pk}/card/markdown/",
        f"/projects/{candidate.project_id}/releases/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/promotions/{promotion.pk}/approve/").status_code == 404
    assert b"/promotions/" not in client.get("/approvals/").content


def test_stale_evidence_is_shown_and_refreshed_from_the_page(
    client, candidate, signed_spec, product_owner, ml_engineer
):
    from governance.tests.helpers import record_run

    promotion = services.promotion_request_create(
        user=product_owner, model_version=candidate, target_stage="production"
    )
    newer = record_run(candidate, signed_spec, accuracy=0.95)
    client.force_login(ml_engineer)
    client.post(f"/promotions/{promotion.pk}/approve/", {"role": "ml_engineer"})
    candidate.refresh_from_db()
    assert candidate.stage == "candidate"  # refused: stale evidence
    page = client.get(f"/promotions/{promotion.pk}/")
    assert b'data-testid="stale"' in page.content
    client.post(f"/promotions/{promotion.pk}/refresh/")
    promotion.refresh_from_db()
    assert promotion.evidence["eval_run"]["id"] == newer.pk
    assert b'data-testid="stale"' not in client.get(f"/promotions/{promotion.pk}/").content
    client.post(f"/promotions/{promotion.pk}/approve/", {"role": "ml_engineer"})
    candidate.refresh_from_db()
    assert candidate.stage == "production"


def _step(client, project, key: str) -> tuple[bool, str]:
    """Whether the project page's step `key` is done, and its text."""
    page = client.get(f"/projects/{project.pk}/").content.decode()
    step = re.search(rf'data-step="{key}" data-done="(\w+)"(.*?)</li>', page, re.S)
    return step[1] == "true", re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", step[2]))


def _approval_step(client, project) -> tuple[bool, str]:
    return _step(client, project, "approval")


def test_the_evaluation_step_counts_runs_of_trained_versions_not_the_baselines(
    client, project, make_version, signed_spec, product_owner
):
    from governance.tests.helpers import record_run

    client.force_login(product_owner)
    done, text = _step(client, project, "evaluation")
    assert not done and "Needs a trained model version" in text and "Run an evaluation" not in text
    baseline = make_version(0, weights=b"v0")
    baseline.kind = "baseline"
    baseline.save(update_fields=["kind"])
    record_run(baseline, signed_spec, passed=False)
    done, text = _step(client, project, "evaluation")
    assert not done and "Needs a trained model version" in text
    version = make_version(1, weights=b"v1")
    done, text = _step(client, project, "evaluation")
    assert not done and "No trained version evaluated yet" in text and "Run an evaluation" in text
    record_run(version, signed_spec)
    done, text = _step(client, project, "evaluation")
    assert done and "v1: gates passed" in text


def test_the_project_checklist_follows_a_version_from_evaluated_to_production(
    client, project, make_version, signed_spec, product_owner, ml_engineer, viewer
):
    """The Approval step: what is missing, the request to make, who it waits for, done once in production."""
    from governance.tests.helpers import record_run

    client.force_login(product_owner)
    done, text = _approval_step(client, project)
    assert not done and "Needs an evaluated model version" in text
    version = make_version(1, weights=b"v1")
    record_run(version, signed_spec)
    done, text = _approval_step(client, project)
    assert not done and "v1 is evaluated, not yet requested" in text and "Request promotion of v1" in text
    assert (
        f'href="/models/{version.pk}/governance/"' in client.get(f"/projects/{project.pk}/").content.decode()
    )
    client.force_login(viewer)
    assert "Request promotion" not in _approval_step(client, project)[1]  # viewers may not request

    promotion = services.promotion_request_create(
        user=product_owner, model_version=version, target_stage="production"
    )
    client.force_login(product_owner)
    waiting = f"Request #{promotion.pk} for v1 waits for: ML engineer, Product owner, Governance reviewer"
    assert waiting in _approval_step(client, project)[1]
    services.promotion_approve(promotion=promotion, user=ml_engineer)
    assert "waits for: Product owner, Governance reviewer" in _approval_step(client, project)[1]

    version.stage = "production"
    version.save(update_fields=["stage"])  # the other approvals, in effect
    done, text = _approval_step(client, project)
    assert done and "v1 is in production" in text and "Releases and rollback" in text


def test_a_viewer_reads_the_model_card_without_controls_and_a_refused_save_names_the_card(
    client, candidate, viewer, product_owner
):
    from governance.services import model_card_update
    from studio.errors import Forbidden

    client.force_login(viewer)
    page = client.get(f"/models/{candidate.pk}/governance/").content.decode()
    assert 'data-testid="card-text"' in page and 'data-testid="card-form"' not in page
    assert "Send for review" not in page and "Approve card" not in page
    with pytest.raises(Forbidden, match="cannot write model cards"):
        model_card_update(version=candidate, user=viewer, intended_use="Anything")
    client.force_login(product_owner)
    page = client.get(f"/models/{candidate.pk}/governance/").content.decode()
    assert 'data-testid="card-form"' in page and "Send for review" in page


def test_the_evidence_reads_as_words_and_short_numbers(
    client, make_version, signed_spec, product_owner, owner
):
    from governance.tests.helpers import record_run

    version = make_version(1, weights=b"v1")
    record_run(version, signed_spec, accuracy=2 / 3)
    promotion = services.promotion_request_create(
        user=product_owner, model_version=version, target_stage="staging", reason="First"
    )
    client.force_login(owner)
    page = client.get(f"/promotions/{promotion.pk}/").content.decode()
    gates = page[page.index('data-testid="gates"') :]
    assert "0.6667" in gates[: gates.index("</table>")] and "0.6666666" not in page
    card = page[page.index('data-testid="data-card"') :]
    assert "Not personal data" in card[: card.index("</dl>")] and "not_personal" not in card


def test_an_approver_sees_from_any_page_that_something_waits_for_them(
    client, candidate, product_owner, ml_engineer
):
    client.force_login(ml_engineer)
    assert 'data-testid="approvals-unread"' not in client.get("/projects/").content.decode()
    services.promotion_request_create(user=product_owner, model_version=candidate, target_stage="production")
    page = client.get("/projects/").content.decode()
    assert 'data-testid="approvals-unread">1<' in page
    client.post("/approvals/read/")
    assert 'data-testid="approvals-unread"' not in client.get("/projects/").content.decode()
