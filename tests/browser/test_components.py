"""The shared includes and studio.js in a real browser: charts, confirm dialogs, copy, forms, paging."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def components_page(page, live_server, settings):
    settings.ROOT_URLCONF = "tests.browser.kitchen_sink"
    page.goto(f"{live_server.url}/_components/")
    return page


def test_charts_are_drawn_from_a_json_string_and_from_a_dict(components_page, js_errors):
    page = components_page
    for chart_id in ("chart-from-str", "chart-from-dict"):
        chart = page.locator(f"#{chart_id}")
        expect(chart.locator(".main-svg").first).to_be_attached()
        expect(chart).not_to_have_class(re.compile("studio-chart-loading"))
        expect(chart.locator(".modebar-btn--logo")).to_have_count(0)
        # drawn inside its box, not over the table view below (shorter charts drew at the placeholder's 380px)
        box, svg = chart.bounding_box(), chart.locator(".main-svg").first.bounding_box()
        assert svg["height"] <= box["height"] + 1, (chart_id, svg, box)
    assert page.locator("#chart-from-dict").bounding_box()["height"] == 99
    assert page.evaluate("document.querySelectorAll('script[src*=\"plotly\"]').length") == 1
    assert js_errors == []


def test_a_confirmed_action_submits_and_a_cancelled_one_does_not(components_page):
    page = components_page
    page.get_by_role("button", name="Cancel job").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel this job?")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    assert "posted=1" not in page.url

    page.get_by_role("button", name="Cancel job").click()
    dialog.get_by_role("button", name="Cancel job").click()
    expect(page).to_have_url(re.compile(r"posted=1"))


def test_copy_button_puts_the_secret_on_the_clipboard(components_page):
    page = components_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "slm_pat_secret"

    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_role("button", name="Copied")).to_have_count(2)
    assert page.evaluate("navigator.clipboard.readText()") == "slm_pat_input"


def test_form_errors_are_shown_beside_bootstrap_styled_fields(components_page):
    page = components_page
    expect(page.get_by_label("Name")).to_have_class(re.compile(r"\bform-control\b"))
    expect(page.get_by_label("Size")).to_have_class(re.compile(r"\bform-select\b"))
    expect(page.get_by_label("I agree")).to_have_class(re.compile(r"\bform-check-input\b"))

    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("alert").filter(has_text="The whole form is wrong.")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator(".studio-field-text .invalid-feedback")).to_have_text("This field is required.")
    expect(page.get_by_text("A short name.")).to_be_visible()


def test_pagination_keeps_other_query_parameters(components_page, live_server):
    page = components_page
    page.goto(f"{live_server.url}/_components/?status=failed")
    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.get_by_text("11\N{EN DASH}20 of 100")).to_be_visible()


def test_status_badges_use_the_status_colours(components_page):
    page = components_page
    colours = {"succeeded": "text-bg-success", "failed": "text-bg-danger", "pending": "text-bg-warning"}
    for status, colour in colours.items():
        expect(page.locator(f".studio-status[data-status={status}]")).to_have_class(re.compile(colour))
