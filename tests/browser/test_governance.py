"""Governance in Chromium: an ML engineer approves a tier-1 request from the Approvals inbox, and a
governance reviewer approves a tier-3 request in the admin console; each stage changes exactly once."""

from __future__ import annotations

import io

import pytest
from django.db import transaction
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests"  # the factories' password


@pytest.fixture
def requests_waiting(team, owner, product_owner, ml_engineer, reviewer):
    from governance import services
    from governance.tests.helpers import record_run, sign_spec, version_with_weights
    from projects import services as project_services
    from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])

    def upload(name):
        rows = io.BytesIO(jsonl_bytes(classification_rows(12)))
        return project_services.dataset_upload(
            project=project, user=owner, file=rows, filename="i.jsonl", name=name
        )

    intents, chats = upload("Intents"), upload("Chats")
    spec = sign_spec(project, product_owner)
    v1, v2, v3 = (
        version_with_weights(project, owner, n, weights=w, dataset_version=d)
        for n, w, d in ((1, b"1", intents), (2, b"2", intents), (3, b"3", chats))
    )
    for version in (v1, v2, v3):
        record_run(version, spec)
    with transaction.atomic():
        services.stage_set(version=v1, to_stage="production", kind="promotion", actor=owner)
    tier1 = services.promotion_request_create(user=product_owner, model_version=v2, target_stage="production")
    tier3 = services.promotion_request_create(user=owner, model_version=v3, target_stage="staging")
    services.promotion_approve(promotion=tier3, user=ml_engineer)
    services.promotion_approve(promotion=tier3, user=product_owner)
    assert (tier1.tier, tier3.tier) == (1, 3)
    return tier1, tier3


def test_an_ml_engineer_approves_in_the_ui_and_a_reviewer_in_the_admin(
    page, live_server, login, requests_waiting, js_errors
):
    from governance.models import StageChange

    tier1, tier3 = requests_waiting
    login(page, live_server, "mia", PASSWORD)
    page.get_by_role("link", name="Approvals").first.click()
    item = page.get_by_test_id("inbox-item")
    expect(item).to_have_count(1)
    item.click()
    expect(page.get_by_test_id("gates")).to_contain_text("accuracy >= 0.8 on all")
    page.get_by_test_id("approve").click()
    expect(page.locator(".alert-success, .alert")).to_contain_text("Approved")
    expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "approved")
    tier1.model_version.refresh_from_db()
    assert tier1.model_version.stage == "production"
    assert StageChange.objects.filter(model_version=tier1.model_version, kind="promotion").count() == 1
    assert not js_errors  # (the admin, next, has no favicon: its 404 is not the studio's)

    context = page.context
    context.clear_cookies()
    login(page, live_server, "rita", PASSWORD)
    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Promotion requests").first.click()
    page.get_by_role("link", name=str(tier3.pk), exact=True).click()
    expect(page.get_by_test_id("evidence")).to_contain_text("Chats")
    page.get_by_test_id("admin-approve").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Request #{tier3.pk} approved")
    tier3.model_version.refresh_from_db()
    assert tier3.model_version.stage == "staging"
    assert StageChange.objects.filter(model_version=tier3.model_version, kind="promotion").count() == 1
