"""Mistakes a real user makes before an upload get answers that help, and nothing is stored: a
spreadsheet or other binary file (by its bytes, whatever its name), a Windows-1252 CSV (one explanation,
not one error a line), and the same column picked for input and output."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.ingest import binary_kind, head_encoding_problem, not_text_message
from projects.models import DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def xlsx_bytes() -> bytes:
    """The start of a real .xlsx: a ZIP whose parts live under xl/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>")
    return buffer.getvalue()


def cp1252_csv() -> bytes:
    rows = ["text,intent"] + [
        f"Le colis {n} n'est pas arrivé à la réception,shipping" if n % 2 else f"Facture {n} erronée,billing"
        for n in range(12)
    ]
    return ("\n".join(rows) + "\n").encode("cp1252")


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def post(api, project, content: bytes, filename: str, **fields):
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return api.post("/api/v1/datasets/", {"project": project.pk, "file": file, **fields}, format="multipart")


@pytest.mark.parametrize("filename", ["tickets.xlsx", "tickets.csv"])
def test_an_excel_workbook_is_answered_as_one_whatever_its_name(api, owner, project, filename):
    # The browser of the issue filled the column pickers with the ZIP's bytes (NUL characters included).
    response = post(
        api.as_user(owner), project, xlsx_bytes(), filename, input_column="PK\x03\x04\x00", output_column="x"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "not_a_text_file"
    assert "Excel workbook" in error["message"] and "CSV UTF-8" in error["message"]
    assert "Null characters" not in str(error)
    assert not DatasetVersion.objects.exists()


def test_other_binary_files_are_named_by_their_bytes():
    assert binary_kind(b"%PDF-1.7\n...", "data.csv") == "a PDF document"
    pdf = not_text_message("a PDF document", "intents.pdf")
    assert "export them as CSV or JSONL" in pdf and "Save As" not in pdf  # no spreadsheet advice for a PDF
    assert "Save As" in not_text_message("an Excel workbook (.xlsx)", "intents.xlsx")
    assert binary_kind(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "data.xls").startswith("a legacy Office")
    assert binary_kind(b"\xff\xfet\x00e\x00", "data.txt") == "UTF-16 text"
    assert binary_kind(b"abc\x00def", "data.csv") == "a binary file"
    assert binary_kind(b"text,label\nhello,a\n", "data.csv") is None


def test_a_windows_1252_csv_is_explained_once(api, owner, project):
    response = post(
        api.as_user(owner), project, cp1252_csv(), "tickets.csv", input_column="text", output_column="intent"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    lines = [issue for issue in error["details"]["errors"] if issue["code"] == "not_utf8"]
    assert len(lines) == 1  # not one error per line
    assert "Windows-1252" in lines[0]["message"] and "CSV UTF-8" in lines[0]["message"]
    assert not DatasetVersion.objects.exists()
    assert "Windows-1252" in head_encoding_problem(cp1252_csv())
    assert head_encoding_problem("café,a\n".encode()) is None
    assert head_encoding_problem("ok\ncaf\xc3".encode("latin-1")) is None  # a character cut at the end


def test_the_same_column_for_input_and_output_has_its_own_message(api, owner, project):
    content = b"text,intent\n" + b"".join(f"message {n},label{n % 3}\n".encode() for n in range(12))
    response = post(
        api.as_user(owner), project, content, "tickets.csv", input_column="text", output_column="text"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "same_column"
    assert "same column “text”" in error["message"]
    assert list(error["details"]) == ["output_column"]
    assert not DatasetVersion.objects.exists()


def test_inspect_names_the_problem_before_anything_is_uploaded(client, owner, project):
    client.force_login(owner)
    url = reverse("projects:dataset_inspect", args=[project.pk])
    workbook = client.post(
        f"{url}?filename=tickets.xlsx", xlsx_bytes(), content_type="application/octet-stream"
    )
    assert workbook.json()["header"] == [] and "Excel workbook" in workbook.json()["problem"]
    legacy = client.post(f"{url}?filename=tickets.csv", cp1252_csv(), content_type="application/octet-stream")
    assert "Windows-1252" in legacy.json()["problem"] and legacy.json()["header"] == ["text", "intent"]
    good = client.post(
        f"{url}?filename=t.csv", b"text,intent\nhi,a\n", content_type="application/octet-stream"
    )
    assert good.json()["problem"] is None
