"""Mistakes caught before an upload, in a real browser: an Excel workbook, a Windows-1252 CSV and the same
column for input and output each get one clear message, the Upload button stays off, nothing is stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects.models import Dataset, DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory
from tests.browser.test_dataset_upload import open_upload_page, tickets_csv
from tests.test_upload_mistakes import cp1252_csv, xlsx_bytes

pytestmark = pytest.mark.browser


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def nothing_stored() -> bool:
    return not DatasetVersion.objects.exists() and not Dataset.objects.exists()


def test_an_excel_workbook_is_recognised_by_its_bytes(page, live_server, login, owner, project, js_errors):
    open_upload_page(page, live_server, login, owner, project)
    expect(page.get_by_text("Choose a file first")).to_be_visible()  # step 2 is there before a file
    page.locator("#dataset-file").set_input_files(
        {"name": "tickets.xlsx", "mimeType": "application/octet-stream", "buffer": xlsx_bytes()}
    )
    errors = page.locator("[data-upload-errors]")
    expect(errors).to_contain_text("is an Excel workbook (.xlsx), not a CSV")
    expect(errors).to_contain_text("CSV UTF-8")
    expect(page.locator("[data-file-format]")).to_have_text("not a text file")
    expect(page.get_by_label("Input column")).to_be_hidden()  # no ZIP bytes in the column pickers
    expect(page.get_by_role("button", name="Upload")).to_be_disabled()
    assert nothing_stored()
    assert js_errors == []


def test_a_windows_1252_csv_is_explained_once_before_upload(
    page, live_server, login, owner, project, js_errors
):
    open_upload_page(page, live_server, login, owner, project)
    page.locator("#dataset-file").set_input_files(
        {"name": "tickets.csv", "mimeType": "text/csv", "buffer": cp1252_csv()}
    )
    errors = page.locator("[data-upload-errors]")
    expect(errors).to_contain_text("Windows-1252")
    expect(errors).to_contain_text("Save it again as “CSV UTF-8")
    expect(errors.locator("tbody tr")).to_have_count(0)
    expect(page.get_by_role("button", name="Upload")).to_be_disabled()
    assert nothing_stored()
    assert js_errors == []


def test_the_same_column_for_input_and_output_is_prevented(
    page, live_server, login, owner, project, js_errors
):
    open_upload_page(page, live_server, login, owner, project)
    page.locator("#dataset-file").set_input_files(
        {"name": "tickets.csv", "mimeType": "text/csv", "buffer": tickets_csv()}
    )
    upload = page.get_by_role("button", name="Upload")
    expect(upload).to_be_enabled()
    page.get_by_label("Output column").select_option("text")
    expect(page.get_by_text("Input and output are the same column")).to_be_visible()
    expect(page.get_by_label("Output column")).to_have_attribute("aria-invalid", "true")
    expect(upload).to_be_disabled()
    page.get_by_label("Output column").select_option("intent")
    expect(page.get_by_text("Input and output are the same column")).to_be_hidden()
    expect(upload).to_be_enabled()
    assert nothing_stored()
    assert js_errors == []
