"""Uploading a dataset in a real browser: the CSV column-mapping step, the progress bar, the version page
with its chart, and a rejected file's line/field errors shown without losing the chosen file."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from projects.models import DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests"  # the factories' password

# Remembers every value the upload progress bar shows, across the navigation to the version page.
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.querySelector("[data-progress] .progress");
  if (!bar) return;
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("progress") || "[]");
    seen.push(bar.getAttribute("aria-valuenow"));
    sessionStorage.setItem("progress", JSON.stringify(seen));
  }).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
});
"""


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def tickets_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ticket_id", "text", "intent", "agent"])
    for index, row in enumerate(classification_rows(12)):
        writer.writerow([1000 + index, row["input"], row["output"], "ana"])
    return out.getvalue().encode()


def open_upload_page(page, live_server, login, owner, project):
    login(page, live_server, owner.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.pk}/datasets/upload/")
    expect(page.get_by_role("heading", name="Upload a dataset")).to_be_visible()


def test_csv_upload_through_the_mapping_step_lands_on_the_version_page(
    page, live_server, login, owner, project, js_errors
):
    page.add_init_script(RECORD_PROGRESS)
    open_upload_page(page, live_server, login, owner, project)
    upload_button = page.get_by_role("button", name="Upload")
    expect(upload_button).to_be_disabled()

    page.locator("#dataset-file").set_input_files(
        {"name": "tickets.csv", "mimeType": "text/csv", "buffer": tickets_csv()}
    )

    expect(page.get_by_text("tickets.csv")).to_be_visible()
    expect(page.locator("[data-file-format]")).to_have_text("CSV")
    expect(page.get_by_label("Input column")).to_have_value("text")
    expect(page.get_by_label("Output column")).to_have_value("intent")
    preview = page.locator("[data-preview]")
    expect(preview.locator("thead th")).to_have_text(["ticket_id", "text", "intent", "agent"])
    expect(preview.locator("tbody tr").first).to_contain_text("billing")
    expect(preview.locator("td.studio-col-input").first).to_contain_text("invoice")

    page.get_by_label(re.compile(r"^Name")).fill("Ticket intents")
    page.get_by_label("Data owner").fill("Support operations")
    upload_button.click()

    expect(page).to_have_url(re.compile(r"/datasets/versions/\d+/$"))
    expect(page.get_by_role("heading", name=re.compile("Ticket intents"))).to_contain_text("v1")
    expect(page.get_by_test_id("row-count")).to_have_text("36")
    label_chart = page.locator("#label-chart")
    expect(label_chart.locator(".main-svg").first).to_be_attached()
    expect(label_chart).to_contain_text("shipping")
    expect(page.get_by_test_id("data-card")).to_contain_text("Support operations")

    progress = page.evaluate("JSON.parse(sessionStorage.getItem('progress') || '[]')")
    assert progress and progress[-1] == "100", progress
    version = DatasetVersion.objects.get()
    assert version.column_mapping == {"input_column": "text", "output_column": "intent"}
    assert version.dataset.name == "Ticket intents" and version.source_filename == "tickets.csv"
    assert js_errors == []


def test_a_rejected_jsonl_shows_each_line_and_field_and_keeps_the_file(
    page, live_server, login, owner, project, js_errors
):
    open_upload_page(page, live_server, login, owner, project)
    bad = (
        b'{"input": "Where is my parcel?", "output": "shipping"}\n'
        b'{"input": "Refund please", "output": }\n'
        b'{"input": "I was charged twice"}\n'
        b'{"input": "", "output": "billing"}\n'
    )
    page.locator("#dataset-file").set_input_files(
        {"name": "intents.jsonl", "mimeType": "application/x-ndjson", "buffer": bad}
    )
    expect(page.locator("[data-file-format]")).to_have_text("JSONL")
    expect(page.get_by_text("JSONL files need no mapping")).to_be_visible()
    expect(page.get_by_label("Input column")).to_be_hidden()

    page.get_by_role("button", name="Upload").click()

    errors = page.locator("[data-upload-errors]")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("The file was not accepted")
    rows = errors.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0).locator("td")).to_have_text(["2", "—", re.compile("JSON", re.I)])
    expect(rows.nth(1).locator("td").nth(0)).to_have_text("3")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("output")
    expect(rows.nth(2).locator("td").nth(1)).to_have_text("input")
    expect(rows.nth(3)).to_contain_text("usable label set")
    expect(page).to_have_url(re.compile(r"/datasets/upload/$"))
    expect(page.get_by_text("intents.jsonl")).to_be_visible()
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()
    assert page.evaluate("document.getElementById('dataset-file').files[0].name") == "intents.jsonl"
    assert not DatasetVersion.objects.exists()
    assert [e for e in js_errors if "400" not in e] == []


def test_a_file_over_the_size_limit_is_refused_before_it_is_sent(
    page, live_server, login, owner, project, settings, js_errors
):
    settings.STUDIO_MAX_UPLOAD_BYTES = 2048
    open_upload_page(page, live_server, login, owner, project)
    page.locator("#dataset-file").set_input_files(
        {"name": "tickets.csv", "mimeType": "text/csv", "buffer": tickets_csv()}
    )
    expect(page.locator("[data-upload-errors]")).to_contain_text("the limit is 2.0 KB")
    expect(page.get_by_role("button", name="Upload")).to_be_disabled()
    assert not DatasetVersion.objects.exists()
    assert js_errors == []
