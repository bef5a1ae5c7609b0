"""Browser pages for projects, charters and datasets, through Django's test client: what each role sees,
what it may change, and that outsiders meet 404 everywhere."""

import io
import json

import pytest
from django.urls import reverse

from projects import services
from projects.models import Charter, DatasetVersion, Project
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")


@pytest.fixture
def charter(project, owner):
    return CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])


def upload(project, user, rows, **kwargs):
    content = jsonl_bytes(rows)
    return services.dataset_upload(
        project=project, user=user, file=io.BytesIO(content), filename="intents.jsonl", **kwargs
    )


@pytest.fixture
def version(project, owner, charter, settings, tmp_path):
    settings.MODEL_CACHE_DIR = tmp_path  # no cached tokenizer: lengths are counted in characters
    rows = classification_rows(12)
    rows[3] = {"input": "Please reply to jane.doe@acme-mail.com about my refund.", "output": "billing"}
    return upload(project, owner, rows, name="Intents", card={"purpose": "Train the intent router"})


def client_for(client, user):
    client.force_login(user)
    return client


def page_urls(project, version):
    dataset = version.dataset
    return [
        reverse("projects:project_detail", args=[project.pk]),
        reverse("projects:project_edit", args=[project.pk]),
        reverse("projects:charter_history", args=[project.pk]),
        reverse("projects:charter_edit", args=[project.pk]),
        reverse("projects:dataset_upload", args=[project.pk]),
        reverse("projects:dataset_detail", args=[dataset.pk]),
        reverse("projects:dataset_version_upload", args=[dataset.pk]),
        reverse("projects:dataset_version_detail", args=[version.pk]),
        reverse("projects:dataset_version_download", args=[version.pk, "jsonl"]),
        reverse("projects:dataset_version_download", args=[version.pk, "csv"]),
    ]


def post_urls(project, version):
    dataset = version.dataset
    return [
        reverse("projects:project_edit", args=[project.pk]),
        reverse("projects:charter_edit", args=[project.pk]),
        reverse("projects:dataset_inspect", args=[project.pk]),
        reverse("projects:dataset_card_edit", args=[dataset.pk]),
        reverse("projects:dataset_version_redact", args=[version.pk]),
        reverse("projects:dataset_version_resplit", args=[version.pk]),
    ]


def test_every_page_renders_for_an_owner(client, project, version, owner):
    client = client_for(client, owner)
    for url in page_urls(project, version):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url


def test_an_outsider_gets_404_on_every_project_charter_and_dataset_page(client, project, version, outsider):
    client = client_for(client, outsider)
    for url in page_urls(project, version):
        assert client.get(url).status_code == 404, url
    for url in post_urls(project, version):
        assert client.post(url, {"seed": 3}).status_code == 404, url


def test_a_viewer_reads_but_sees_no_buttons_and_gets_403_on_writes(client, project, version, viewer):
    client = client_for(client, viewer)
    hub = client.get(reverse("projects:project_detail", args=[project.pk])).content.decode()
    assert "Support intents" in hub
    assert reverse("projects:dataset_upload", args=[project.pk]) not in hub
    assert reverse("projects:charter_edit", args=[project.pk]) not in hub
    assert reverse("projects:project_edit", args=[project.pk]) not in hub
    page = client.get(reverse("projects:dataset_version_detail", args=[version.pk])).content.decode()
    assert "Upload a new version" not in page and "Redact PII" not in page and "Re-split" not in page
    assert "Save the data card" not in page
    listing = client.get(reverse("projects:project_list")).content.decode()
    assert "Support intents" in listing and "New project" not in listing

    for url in [
        reverse("projects:project_create"),
        reverse("projects:dataset_upload", args=[project.pk]),
        reverse("projects:charter_edit", args=[project.pk]),
    ]:
        assert client.get(url).status_code == 403, url
    for url in post_urls(project, version):
        assert client.post(url, {"seed": 3, "purpose": "x"}).status_code == 403, url
    assert client.post(reverse("projects:project_create"), {"name": "X"}).status_code == 403
    assert DatasetVersion.objects.count() == 1


def test_project_list_shows_the_current_teams_projects_with_their_charter(client, project, charter, owner):
    ProjectFactory(name="Someone else's", slug="other")  # another team
    page = client_for(client, owner).get(reverse("projects:project_list"))
    body = page.content.decode()
    assert "Support intents" in body and "Someone else" not in body
    assert "New project" in body
    row = page.context["projects"][0]
    assert (row.charter_version, row.dataset_count) == (charter.version, 0)
    assert f"v{charter.version}" in body


def test_create_a_project_and_bad_json_schema_is_a_form_error(client, team, owner):
    client = client_for(client, owner)
    url = reverse("projects:project_create")
    assert 'type="radio"' in client.get(url).content.decode()
    fields = {
        "name": "Order fields",
        "task_type": "extraction",
        "instructions": "Extract the order fields.",
        "output_schema": '{"type": "object", ',
    }
    response = client.post(url, fields)
    assert response.status_code == 200
    assert "This is not valid JSON" in response.content.decode()
    assert not Project.objects.exists()

    fields["output_schema"] = '{"type": "object", "properties": {"total": {"type": "number"}}}'
    response = client.post(url, fields)
    project = Project.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "projects:project_detail", args=[project.pk]
    )
    assert project.output_schema["properties"]["total"] == {"type": "number"}
    assert project.team == team and project.owner == owner


def test_a_schema_on_a_classification_project_is_refused(client, project, owner):
    response = client_for(client, owner).post(
        reverse("projects:project_edit", args=[project.pk]),
        {"name": "Support intents", "instructions": "Classify.", "output_schema": '{"type": "object"}'},
    )
    assert response.status_code == 200
    assert "Only extraction projects take an output schema" in response.content.decode()


def test_the_hub_shows_the_journey_with_next_step_and_no_broken_links(client, project, owner):
    client = client_for(client, owner)
    body = client.get(reverse("projects:project_detail", args=[project.pk])).content.decode()
    assert 'data-step="charter" data-done="false"' in body
    assert "Write the charter" in body and "Coming next" not in body  # every step of the path is live
    assert reverse("training:job_list") in body

    CharterFactory(project=project, author=owner, version=1)
    upload(project, owner, classification_rows(12), name="Intents")
    body = client.get(reverse("projects:project_detail", args=[project.pk])).content.decode()
    assert 'data-step="charter" data-done="true"' in body
    assert 'data-step="dataset" data-done="true"' in body
    assert "Intents" in body and "Route support e-mails" in body


def charter_post(**overrides):
    data = {
        "problem_statement": "Route support e-mails to the right queue automatically.",
        "business_metric": "Median time to first response",
        "non_goals": "It never replies to customers.",
        "data_classes": ["internal", "personal"],
        "residency": "eu",
        "automation": "human_review",
        "confidence_threshold": "0.7",
        "release_cadence": "monthly",
        "rollback_expectation": "Within 15 minutes.",
        "change_note": "Allow personal data",
        "measures-TOTAL_FORMS": "2",
        "measures-INITIAL_FORMS": "1",
        "measures-MIN_NUM_FORMS": "0",
        "measures-MAX_NUM_FORMS": "20",
        "measures-0-metric": "accuracy",
        "measures-0-baseline": "0.6",
        "measures-0-target": "0.85",
        "measures-0-higher_is_better": "on",
        "measures-1-metric": "",
        "measures-1-baseline": "",
        "measures-1-target": "",
        "measures-1-higher_is_better": "on",
    }
    data.update(overrides)
    return data


def test_charter_edit_prefills_creates_v2_and_the_diff_shows_the_change(client, project, charter, owner):
    client = client_for(client, owner)
    url = reverse("projects:charter_edit", args=[project.pk])
    form_page = client.get(url).content.decode()
    assert "Route support e-mails to the right queue automatically." in form_page
    assert 'value="accuracy"' in form_page and "Save as v2" in form_page

    response = client.post(url, charter_post(), follow=True)
    assert "Charter v2 saved" in response.content.decode()
    latest = Charter.objects.get(project=project, version=2)
    assert latest.data_classes == ["internal", "personal"] and latest.residency == "eu"
    assert latest.success_measures == [
        {"metric": "accuracy", "baseline": 0.6, "target": 0.85, "higher_is_better": True}
    ]

    history = client.get(reverse("projects:charter_history", args=[project.pk]), {"base": 1, "head": 2})
    body = history.content.decode()
    assert history.status_code == 200
    assert 'data-field="data_classes"' in body and 'data-field="residency"' in body
    assert 'data-field="problem_statement"' not in body
    assert "<ins>" in body and "Personal data" in body
    assert "Allow personal data" in body  # the change note in the versions list


def test_charter_errors_are_shown_on_the_form(client, project, owner):
    client = client_for(client, owner)
    url = reverse("projects:charter_edit", args=[project.pk])
    no_threshold = client.post(url, charter_post(confidence_threshold=""))
    assert "Required when answers below a threshold go to human review" in no_threshold.content.decode()
    backwards = client.post(url, charter_post(**{"measures-0-target": "0.5"}))
    assert "must be above its baseline" in backwards.content.decode()
    no_measure = client.post(url, charter_post(**{"measures-0-metric": "", "measures-0-baseline": ""}))
    assert "Name the metric" in no_measure.content.decode() or "at least one success measure" in (
        no_measure.content.decode()
    )
    assert not Charter.objects.exists()


def test_diff_of_a_missing_version_is_404(client, project, charter, owner):
    response = client_for(client, owner).get(
        reverse("projects:charter_history", args=[project.pk]), {"head": 9}
    )
    assert response.status_code == 404


def test_inspect_suggests_the_mapping_for_a_csv_head(client, project, owner):
    head = b"ticket_id,text,intent\n1,My parcel never arrived,shipping\n2,Refund my invoice,billing\n3,Wro"
    response = client_for(client, owner).post(
        reverse("projects:dataset_inspect", args=[project.pk]) + "?filename=tickets.csv",
        data=head,
        content_type="application/octet-stream",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["format"] == "csv" and body["needs_mapping"] is True
    assert body["header"] == ["ticket_id", "text", "intent"]
    assert body["suggested"] == {"input_column": "text", "output_column": "intent"}
    assert len(body["preview"]) == 2  # the cut-off last line is not previewed
    assert body["preview"][0] == ["1", "My parcel never arrived", "shipping"]


def test_inspect_of_jsonl_needs_no_mapping(client, project, owner):
    response = client_for(client, owner).post(
        reverse("projects:dataset_inspect", args=[project.pk]) + "?filename=x.jsonl",
        data=jsonl_bytes(classification_rows(2)),
        content_type="application/octet-stream",
    )
    assert response.json()["format"] == "jsonl" and response.json()["needs_mapping"] is False


def test_the_upload_page_posts_to_the_api_with_the_project_or_the_dataset(client, project, version, owner):
    client = client_for(client, owner)
    new = client.get(reverse("projects:dataset_upload", args=[project.pk])).content.decode()
    assert f'data-project="{project.pk}"' in new and 'data-api-url="/api/v1/datasets/"' in new
    assert 'name="lawful_basis"' in new and 'name="retention_days"' in new
    again = client.get(reverse("projects:dataset_version_upload", args=[version.dataset.pk])).content.decode()
    assert f'data-dataset="{version.dataset.pk}"' in again and 'name="lawful_basis"' not in again


def test_dataset_page_shows_charts_pii_table_block_reason_and_card(client, project, version, owner):
    client = client_for(client, owner)
    response = client.get(reverse("projects:dataset_detail", args=[version.dataset.pk]))
    assert response.status_code == 302
    assert response.url == reverse("projects:dataset_version_detail", args=[version.pk])
    body = client.get(response.url).content.decode()
    assert 'id="label-chart"' in body and 'id="input-length-chart"' in body
    figure = json.loads(json.loads(response_figure(body, "label-chart-figure")))
    assert sorted(figure["data"][0]["x"]) == ["billing", "returns", "shipping"]
    assert 'data-testid="pii-table"' in body and "email" in body
    assert "jane.doe@acme-mail.com" not in body
    assert 'data-testid="block-reasons"' in body and "does not allow" in body
    assert "Lengths in characters" in body
    assert "Train the intent router" in body
    assert f"sha256:{version.sha256}" in body
    assert "Redact PII" in body and "Save the data card" in body


def response_figure(body: str, element_id: str) -> str:
    start = body.index(f'<script id="{element_id}"')
    start = body.index(">", start) + 1
    return body[start : body.index("</script>", start)]


def test_downloads_return_the_files(client, project, version, owner):
    client = client_for(client, owner)
    jsonl = client.get(reverse("projects:dataset_version_download", args=[version.pk, "jsonl"]))
    assert jsonl.status_code == 200
    rows = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert len(rows) == version.row_count and set(rows[0]) >= {"input", "output"}
    csv = client.get(reverse("projects:dataset_version_download", args=[version.pk, "csv"]))
    assert csv["Content-Type"] == "text/csv"
    assert b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()[0] == "input,output"
    assert (
        client.get(reverse("projects:dataset_version_download", args=[version.pk, "xlsx"])).status_code == 404
    )


def test_redact_resplit_and_card_edit(client, project, version, owner):
    client = client_for(client, owner)
    response = client.post(reverse("projects:dataset_version_redact", args=[version.pk]), follow=True)
    redacted = DatasetVersion.objects.get(parent=version)
    assert response.redirect_chain[-1][0] == reverse("projects:dataset_version_detail", args=[redacted.pk])
    assert redacted.pii_summary == {} and redacted.operation == "redact"
    assert "Redacted: v2" in response.content.decode()

    again = client.post(reverse("projects:dataset_version_redact", args=[redacted.pk]), follow=True)
    assert "no PII findings to redact" in again.content.decode()

    client.post(reverse("projects:dataset_version_resplit", args=[redacted.pk]), {"seed": 99})
    resplit = DatasetVersion.objects.get(parent=redacted)
    assert resplit.split_seed == 99 and resplit.number == 3

    card_url = reverse("projects:dataset_card_edit", args=[version.dataset.pk])
    response = client.post(
        card_url,
        {
            "purpose": "Route e-mails",
            "lawful_basis": "contract",
            "retention_days": "30",
            "next": "/projects/",
        },
    )
    assert response.status_code == 302 and response.url == "/projects/"
    version.dataset.refresh_from_db()
    assert version.dataset.lawful_basis == "contract" and version.dataset.retention_days == 30
