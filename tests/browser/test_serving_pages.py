"""Serving in Chromium, reached only by links: publish from the project page, see the endpoint's charts,
create a key (shown once), correct an escalated answer and add it to the training data."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from serving import services
from serving.choices import Route
from serving.models import ApiKey, Endpoint
from serving.tests.factories import project_in_production

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests"  # the factories' password


def test_publish_key_and_review_loop_through_the_pages(
    page, live_server, login, team, owner, settings, js_errors
):
    project, version = project_in_production(team=team, owner=owner, settings=settings)
    login(page, live_server, owner.username, PASSWORD)

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_test_id("publish-from-project").click()
    page.get_by_label("Slug").fill("support-mail")
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/endpoints/support-mail/$"))
    expect(page.get_by_test_id("routing")).to_contain_text(f"v{version.number}")
    page.wait_for_function(
        "() => { const c = document.getElementById('chart-latency'); return c && c.data; }"
    )

    page.get_by_test_id("key-form").get_by_label("Name").fill("helpdesk")
    page.get_by_role("button", name="Create the key").click()
    secret = page.get_by_test_id("key-secret").locator("code").inner_text().strip()
    assert ApiKey.objects.get().secret_hash == ApiKey.hash_secret(secret)
    page.get_by_role("link", name="Back to the endpoint").click()
    expect(page.get_by_test_id("api-keys")).to_contain_text(secret[:8])
    assert secret not in page.content()

    endpoint = Endpoint.objects.get(slug="support-mail")
    services.request_log_record(
        endpoint=endpoint,
        status_code=200,
        route=Route.ESCALATE,
        confidence=0.2,
        input_text="My parcel 12 never arrived",
        output_text="billing",
    )
    page.reload()
    page.get_by_test_id("review-link").click()
    item = page.locator("[data-review-item]").first
    expect(item).to_contain_text("My parcel 12 never arrived")
    item.get_by_label("Correct label").select_option("shipping")
    item.get_by_test_id("correct").click()
    expect(page.locator("[data-review-item]").first).to_contain_text("Corrected to")

    page.get_by_test_id("export-form").get_by_role("button").click()
    page.locator("[data-confirm-accept]").click()
    expect(page).to_have_url(re.compile(r"/datasets/versions/\d+/$"))
    expect(page.locator("body")).to_contain_text("created with the reviewed examples")
    assert js_errors == []
