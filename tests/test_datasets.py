"""Datasets through the API: upload with exact errors and nothing stored on failure, versions, PII,
redaction, splits, contamination, policy, downloads, and tenancy."""

import csv
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from projects.models import Dataset, DatasetVersion
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parent.parent / "projects" / "tests" / "fixtures" / "ingest"


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")


@pytest.fixture
def extraction_project(team, owner):
    return ProjectFactory(
        team=team,
        owner=owner,
        name="Order fields",
        slug="order-fields",
        task_type="extraction",
        instructions="Extract the order fields as JSON.",
        output_schema={
            "type": "object",
            "properties": {"total": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]}},
            "required": ["total", "currency"],
        },
    )


def upload(api, project, content: bytes, filename="data.jsonl", **fields):
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return api.post("/api/v1/datasets/", {"project": project.pk, "file": file, **fields}, format="multipart")


def stored_files() -> list[Path]:
    folder = Path(settings.DATASETS_DIR)
    return sorted(folder.iterdir()) if folder.exists() else []


ERROR_CASES = [
    ("not_utf8.jsonl", "classification", "not_utf8", 3, None),
    ("malformed_json.jsonl", "classification", "malformed_json", 2, None),
    ("not_an_object.jsonl", "classification", "not_an_object", 2, None),
    ("missing_field.jsonl", "classification", "missing_field", 2, "output"),
    ("empty_field.jsonl", "classification", "empty_field", 3, "input"),
    ("non_finite.jsonl", "classification", "non_finite_number", 2, "score"),
    ("nul_character.jsonl", "classification", "nul_character", 2, "input"),
    ("duplicate_key.jsonl", "classification", "duplicate_key", 2, "output"),
    ("nesting_too_deep.jsonl", "extraction", "nesting_too_deep", 2, None),
    ("output_not_json_object.jsonl", "extraction", "output_not_json_object", 2, "output"),
    ("schema_violation.jsonl", "extraction", "schema_violation", 2, "output.total"),
    ("malformed_csv.csv", "classification", "malformed_csv", 3, None),
    ("bad_chat_format.jsonl", "classification", "bad_chat_format", 2, "messages"),
    ("label_set_unfit.jsonl", "classification", "label_set_unfit", None, "output"),
    ("empty_file.jsonl", "classification", "empty_file", None, None),
]


@pytest.mark.parametrize(("fixture", "task_type", "code", "line", "field"), ERROR_CASES)
def test_each_invalid_file_is_a_400_naming_line_and_field_and_stores_nothing(
    api, project, extraction_project, fixture, task_type, code, line, field
):
    target = extraction_project if task_type == "extraction" else project
    files_before, events_before = stored_files(), AuditEvent.objects.count()
    response = upload(api.as_user(target.owner), target, (FIXTURES / fixture).read_bytes(), filename=fixture)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "dataset_invalid"
    matching = [e for e in error["details"]["errors"] if e["code"] == code]
    assert matching, error["details"]["errors"]
    if line is not None:
        assert matching[0]["line"] == line
        assert f"line {line}" in error["message"] or matching[0] is not error["details"]["errors"][0]
    if field is not None:
        assert matching[0]["field"] == field
    assert Dataset.objects.count() == 0 and DatasetVersion.objects.count() == 0
    assert stored_files() == files_before
    assert AuditEvent.objects.count() == events_before


def test_a_valid_upload_creates_an_immutable_content_addressed_version(api, project):
    rows = classification_rows(40)
    response = upload(
        api.as_user(project.owner), project, jsonl_bytes(rows), filename="intents.jsonl", name="Intents"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["row_count"] == 120 and body["number"] == 1 and body["operation"] == "upload"
    assert len(body["sha256"]) == 64
    assert body["stats"]["label_distribution"] == {"billing": 40, "shipping": 40, "returns": 40}
    assert sum(body["split_counts"].values()) == 120
    assert body["source_filename"] == "intents.jsonl"
    version = DatasetVersion.objects.get(pk=body["id"])
    assert version.rows_path.name != "intents.jsonl" and version.rows_path.exists()
    again = upload(api, project, jsonl_bytes(rows), filename="copy.jsonl", name="Copy")
    assert again.json()["sha256"] == body["sha256"]
    assert AuditEvent.objects.filter(action="dataset_version.upload").count() == 2


def test_warnings_are_shown_and_recorded_but_do_not_block(api, project):
    rows = [
        *classification_rows(4),
        {
            "input": "Hello, my invoice shows a charge of 100 euros that I do not recognise.",
            "output": "returns",
        },
    ]
    rows.append(rows[1])
    body = upload(api.as_user(project.owner), project, jsonl_bytes(rows)).json()
    codes = {w["code"] for w in body["warnings"]}
    assert {"too_few_examples", "too_few_per_label", "exact_duplicates", "conflicting_labels"} <= codes


def test_csv_upload_with_a_column_mapping(api, project):
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["ticket_id", "customer_text", "queue"])
    for i, row in enumerate(classification_rows(12)):
        writer.writerow([i, row["input"], row["output"]])
    content = "\ufeff".encode() + text.getvalue().encode()
    response = upload(
        api.as_user(project.owner),
        project,
        content,
        filename="tickets.csv",
        input_column="customer_text",
        output_column="queue",
    )
    assert response.status_code == 201, response.content
    assert response.json()["row_count"] == 36
    assert response.json()["column_mapping"] == {"input_column": "customer_text", "output_column": "queue"}
    wrong = upload(api, project, content, filename="tickets.csv", input_column="body", output_column="queue")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"]["errors"][0]["code"] == "wrong_column"


def test_pii_is_found_with_row_field_and_masked_excerpt_and_redaction_makes_a_clean_child(api, project):
    CharterFactory(project=project, data_classes=["internal"])
    rows = classification_rows(12)
    rows[3] = {
        "input": "Please reply to jane.doe@acme-mail.com or call +44 20 7946 0958.",
        "output": "billing",
    }
    rows[5] = {"input": "Card 4111 1111 1111 1111 was charged twice.", "output": "billing"}
    body = upload(api.as_user(project.owner), project, jsonl_bytes(rows)).json()
    assert body["pii_summary"] == {"email": 1, "phone": 1, "card": 1}
    assert set(body["data_classes_found"]) == {"personal", "payment"}
    email = next(f for f in body["pii_findings"] if f["type"] == "email")
    assert email["row"] == 4 and email["field"] == "input"
    assert "jane.doe@acme-mail.com" not in email["excerpt_masked"] and "@" in email["excerpt_masked"]
    assert body["status"] == "blocked"
    assert "does not allow" in body["training_blocked_reasons"][0]

    redacted = api.post(f"/api/v1/dataset-versions/{body['id']}/redact/")
    assert redacted.status_code == 201, redacted.content
    child = redacted.json()
    assert child["parent"] == body["id"] and child["operation"] == "redact" and child["number"] == 2
    assert child["pii_summary"] == {} and child["status"] == "ready"
    assert child["row_count"] == body["row_count"]
    rows_after = [
        json.loads(line)
        for line in DatasetVersion.objects.get(pk=child["id"]).rows_path.read_text().splitlines()
    ]
    assert "<EMAIL>" in rows_after[3]["input"] and "<PHONE>" in rows_after[3]["input"]
    assert "<CARD>" in rows_after[5]["input"]
    again = api.post(f"/api/v1/dataset-versions/{child['id']}/redact/")
    assert again.status_code == 409
    twice = api.post(f"/api/v1/dataset-versions/{body['id']}/redact/")  # the same version, a second time
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_redacted"
    assert twice.json()["error"]["details"] == {"version": child["id"], "number": 2}


def test_changing_the_charter_unblocks_a_dataset(api, project):
    rows = classification_rows(12)
    rows[0] = {"input": "Write to ana@fastpost.net about the refund.", "output": "billing"}
    body = upload(api.as_user(project.owner), project, jsonl_bytes(rows)).json()
    assert "no charter" in body["training_blocked_reasons"][0]
    CharterFactory(project=project, version=1, data_classes=["internal"])
    assert api.get(f"/api/v1/dataset-versions/{body['id']}/").json()["status"] == "blocked"
    CharterFactory(project=project, version=2, data_classes=["internal", "personal"])
    assert api.get(f"/api/v1/dataset-versions/{body['id']}/").json()["status"] == "ready"


def test_retention_window_blocks_training(api, project):
    from projects.policy import training_block_reasons

    CharterFactory(project=project)
    body = upload(
        api.as_user(project.owner), project, jsonl_bytes(classification_rows(12)), retention_days=1
    ).json()
    version = DatasetVersion.objects.get(pk=body["id"])
    assert training_block_reasons(version) == []
    Dataset.objects.filter(pk=version.dataset_id).update(created_at=version.created_at.replace(year=2001))
    version = DatasetVersion.objects.get(pk=body["id"])
    assert "retention window" in training_block_reasons(version)[0]


def test_splits_are_deterministic_stratified_and_resplit_makes_a_new_version(api, project):
    body = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(20))).json()
    second = upload(api, project, jsonl_bytes(classification_rows(20))).json()
    first_splits = DatasetVersion.objects.get(pk=body["id"]).splits_path.read_text()
    assert first_splits == DatasetVersion.objects.get(pk=second["id"]).splits_path.read_text()
    assert body["split_counts"] == {"train": 48, "val": 6, "test": 6}
    resplit = api.post(f"/api/v1/dataset-versions/{body['id']}/split/", {"seed": 7}, format="json").json()
    assert resplit["operation"] == "split" and resplit["parent"] == body["id"] and resplit["split_seed"] == 7
    assert resplit["sha256"] == body["sha256"]
    assert DatasetVersion.objects.get(pk=resplit["id"]).splits_path.read_text() != first_splits
    bad = api.post(f"/api/v1/dataset-versions/{body['id']}/split/", {"seed": 7, "train": 0.9}, format="json")
    assert bad.status_code == 400
    assert any(key.startswith("split_ratios") for key in bad.json()["error"]["details"])


def test_golden_test_set_contamination_is_reported(api, project):
    rows = classification_rows(20)
    training = upload(api.as_user(project.owner), project, jsonl_bytes(rows), name="Train").json()
    splits = json.loads(DatasetVersion.objects.get(pk=training["id"]).splits_path.read_text())
    leaked = [rows[i] for i in splits["train"][:3]]
    labels = ["billing", "shipping", "returns"]
    golden_rows = leaked + [
        {"input": f"Completely new question {i}", "output": labels[i % 3]} for i in range(9)
    ]
    golden = upload(api, project, jsonl_bytes(golden_rows), name="Golden", kind="golden").json()
    assert golden["split_counts"] == {"train": 0, "val": 0, "test": 12}
    report = golden["contamination"]["other_datasets"]["Train v1"]
    assert report["count"] == 3 and report["test_size"] == 12


def test_merge_records_both_parents(api, project):
    a = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(12)), name="A").json()
    extra = [
        {"input": f"Where is my parcel {i} from the new warehouse?", "output": "shipping"} for i in range(6)
    ]
    extra += [
        {"input": f"My invoice {i} from the new warehouse is wrong", "output": "billing"} for i in range(6)
    ]
    b = upload(api, project, jsonl_bytes(extra), name="B").json()
    merged = api.post(f"/api/v1/dataset-versions/{a['id']}/merge/", {"other": b["id"]}, format="json").json()
    assert merged["row_count"] == 48 and merged["parent"] == a["id"] and merged["merged_from"] == b["id"]


def test_downloads_jsonl_and_formula_safe_csv(api, project):
    rows = classification_rows(12)
    rows[0] = {"input": '=HYPERLINK("http://evil")', "output": "billing"}
    rows[1] = {"input": "@SUM(A1:A2) please", "output": "billing"}
    body = upload(api.as_user(project.owner), project, jsonl_bytes(rows)).json()
    jsonl = api.get(f"/api/v1/dataset-versions/{body['id']}/download/")
    assert jsonl.status_code == 200
    assert b"".join(jsonl.streaming_content).decode().splitlines()[0] == json.dumps(
        rows[0], ensure_ascii=False, separators=(",", ":")
    )
    response = api.get(f"/api/v1/dataset-versions/{body['id']}/download/", {"export": "csv"})
    assert response["Content-Disposition"].endswith('.csv"')
    parsed = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert parsed[0] == ["input", "output"]
    assert parsed[1][0] == '\'=HYPERLINK("http://evil")' and parsed[2][0] == "'@SUM(A1:A2) please"
    assert api.get(f"/api/v1/dataset-versions/{body['id']}/download/", {"export": "xlsx"}).status_code == 400


def test_outsider_gets_404_on_projects_charters_datasets_and_downloads(api, project, outsider):
    charter = CharterFactory(project=project)
    body = upload(api.as_user(project.owner), project, jsonl_bytes(classification_rows(12))).json()
    api.as_user(outsider)
    for url in (
        f"/api/v1/projects/{project.pk}/",
        f"/api/v1/charters/{charter.pk}/",
        f"/api/v1/datasets/{body['dataset']}/",
        f"/api/v1/dataset-versions/{body['id']}/",
        f"/api/v1/dataset-versions/{body['id']}/download/",
    ):
        assert api.get(url).status_code == 404, url
    assert api.post(f"/api/v1/dataset-versions/{body['id']}/redact/").status_code == 404
    assert upload(api, project, jsonl_bytes(classification_rows(12))).status_code == 404
    for resource in ("projects", "charters", "datasets", "dataset-versions"):
        assert api.get(f"/api/v1/{resource}/").json()["results"] == []


def test_viewers_cannot_upload(api, project, viewer):
    response = upload(api.as_user(viewer), project, jsonl_bytes(classification_rows(12)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert Dataset.objects.count() == 0


def test_upload_over_the_size_cap_is_413_before_reading(api, project, settings):
    settings.STUDIO_MAX_UPLOAD_BYTES = 2048
    response = upload(api.as_user(project.owner), project, b'{"input":"x","output":"y"}\n' * 200)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Dataset.objects.count() == 0


def test_dataset_version_list_uses_constant_queries(api, project, django_assert_max_num_queries):
    api.as_user(project.owner)
    upload(api, project, jsonl_bytes(classification_rows(12)))
    with django_assert_max_num_queries(10) as few:
        api.get("/api/v1/dataset-versions/")
    baseline = len(few)
    for _ in range(4):
        upload(api, project, jsonl_bytes(classification_rows(12)))
    with django_assert_max_num_queries(baseline):
        assert api.get("/api/v1/dataset-versions/").json()["count"] == 5


def test_lengths_are_counted_in_the_base_models_tokens_once_its_tokenizer_is_cached(
    api, project, settings, tmp_path
):
    import shutil

    from training.engine.tiny import build_byte_tokenizer

    cached = tmp_path / "smollm2-135m-instruct"
    cached.mkdir()
    build_byte_tokenizer().save_pretrained(cached)
    (cached / "config.json").write_text(json.dumps({"max_position_embeddings": 64}))
    settings.MODEL_CACHE_DIR = tmp_path
    rows = classification_rows(12)
    rows[0] = {"input": "Hello " * 40, "output": "billing"}
    body = upload(api.as_user(project.owner), project, jsonl_bytes(rows)).json()
    assert body["stats"]["length_unit"] == "tokens"
    assert body["stats"]["tokenizer"] == "SmolLM2-135M-Instruct"
    assert "too_long_for_context" in {w["code"] for w in body["warnings"]}
    shutil.rmtree(cached)
    assert upload(api, project, jsonl_bytes(rows)).json()["stats"]["length_unit"] == "characters"
