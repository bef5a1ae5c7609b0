"""A large upload in a real browser with a real worker: the upload form opens the import's page, whose
progress bar follows the worker's check and which opens the new version; a rejected file's errors are
listed there by line and field, with nothing stored."""

import json
import re

import pytest
from playwright.sync_api import expect

from projects.models import Dataset, DatasetImport, DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PASSWORD = "pw-for-tests"  # the factories' password
FAST_WORKER = {"STUDIO_PROGRESS_INTERVAL_SECONDS": "0.1", "STUDIO_REAPER_INTERVAL_SECONDS": "1"}

# Remembers every value the import page's progress bar shows, across the navigation to the version page.
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.querySelector('#dataset-import [data-live="progress"]');
  if (!bar) return;
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("import-progress") || "[]");
    seen.push(Number(bar.getAttribute("aria-valuenow")));
    sessionStorage.setItem("import-progress", JSON.stringify(seen));
  }).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
});
"""


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


@pytest.fixture
def off_web(settings, start_worker):
    settings.STUDIO_UPLOAD_INLINE_BYTES = 1024
    settings.STUDIO_PROGRESS_INTERVAL_SECONDS = 0.2  # the page polls every 100 ms
    return start_worker("default", **FAST_WORKER)


def choose_and_upload(page, live_server, login, owner, project, content: bytes) -> None:
    login(page, live_server, owner.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.pk}/datasets/upload/")
    page.locator("#dataset-file").set_input_files(
        {"name": "large.jsonl", "mimeType": "application/x-ndjson", "buffer": content}
    )
    expect(page.locator("[data-file-format]")).to_have_text("JSONL")
    page.get_by_role("button", name="Upload").click()


def test_a_large_upload_is_followed_on_its_page_until_the_version_opens(
    page, live_server, login, owner, project, off_web, js_errors
):
    page.add_init_script(RECORD_PROGRESS)
    choose_and_upload(page, live_server, login, owner, project, jsonl_bytes(classification_rows(30_000)))
    expect(page).to_have_url(re.compile(r"/datasets/imports/\d+/$"))
    expect(page.get_by_role("heading", name="Checking large.jsonl")).to_be_visible()

    expect(page).to_have_url(re.compile(r"/datasets/versions/\d+/$"), timeout=180_000)
    expect(page.get_by_test_id("row-count")).to_have_text("90000")
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('import-progress') || '[]')")
    assert any(0 < value < 100 for value in seen), seen  # the bar moved while the worker read
    assert seen == sorted(seen) and seen[-1] == 100
    assert DatasetImport.objects.get().status == "succeeded"
    assert js_errors == []


def test_a_rejected_large_upload_lists_its_errors_on_its_page(
    page, live_server, login, owner, project, off_web, js_errors
):
    rows = jsonl_bytes(classification_rows(10_000)) + json.dumps({"input": "no label"}).encode() + b"\n"
    choose_and_upload(page, live_server, login, owner, project, rows)
    expect(page).to_have_url(re.compile(r"/datasets/imports/\d+/$"))
    failed = page.locator('[data-live="failed"]')
    expect(failed).to_be_visible(timeout=180_000)
    expect(failed).to_contain_text("line 30001")
    row = failed.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text(["30001", "output", re.compile(".+")])
    expect(page.locator('[data-live="status"]')).to_have_text("Failed")
    expect(failed.get_by_role("link", name="Upload a corrected file")).to_have_attribute(
        "href", f"/projects/{project.pk}/datasets/upload/"
    )
    assert DatasetVersion.objects.count() == 0 and Dataset.objects.count() == 0
    assert js_errors == []
