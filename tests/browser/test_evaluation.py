"""Evaluation in a real browser with a real worker: a product owner writes and signs an eval spec from the
project's checklist, runs the baseline and a fine-tuned version against it from the evaluation page, follows
a run live to its gate verdicts and charts, and opens the compare page with its release diff — only links
and buttons after signing in, and no console error on the way."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect

from evaluation.models import EvalRun, EvalSpec
from evaluation.tests.test_execution import _baseline, _fine_tuned
from projects import services as project_services
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PASSWORD = "pw-for-tests"  # the factories' password


@pytest.fixture(scope="module")
def tiny_llama_path(tmp_path_factory):
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def project(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    return project


def test_a_product_owner_writes_and_signs_a_spec_runs_evaluations_and_compares(
    page,
    live_server,
    login,
    project,
    owner,
    product_owner,
    tiny_llama_path,
    settings,
    start_worker,
    js_errors,
):
    version = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(24))),
        filename="intents.jsonl",
        name="Intents",
    )
    baseline = _baseline(project, version, tiny_llama_path)
    tuned = _fine_tuned(project, version, tiny_llama_path, settings)
    start_worker("evaluation", STUDIO_REAPER_INTERVAL_SECONDS="1")

    where = []  # the page of each console error, for the failure message
    page.on("console", lambda msg: msg.type == "error" and where.append(f"{page.url}: {msg.location}"))
    login(page, live_server, product_owner.username, PASSWORD)
    page.get_by_role("link", name="Support intents").first.click()
    page.get_by_role("link", name="Write the eval spec").first.click()
    expect(page.get_by_label("Gates")).not_to_have_value("")  # pre-filled from the charter
    page.get_by_label("Layers").fill('{"stress": {"per_perturbation": 2}}')
    page.get_by_role("button", name="Save this version").click()
    expect(page.get_by_test_id("signature")).to_contain_text("Not signed yet")
    page.get_by_role("button", name="Sign and lock").click()
    expect(page.get_by_test_id("signature")).to_contain_text(f"Signed by {product_owner.username}")
    assert EvalSpec.objects.get().is_signed

    for model in (baseline, tuned):
        page.get_by_role("link", name="Evaluation", exact=True).first.click()
        page.get_by_label("Model version").select_option(str(model.pk))
        page.get_by_role("button", name="Run evaluation").click()
        expect(page.get_by_test_id("gate-verdicts")).to_be_visible(timeout=240_000)  # the page reloads itself
    run = EvalRun.objects.get(model_version=tuned)
    assert run.status == "succeeded", run.failure_reason
    expect(page.locator("#coverage-curve .main-svg").first).to_be_attached()
    page.get_by_text("Table view: Coverage and accuracy by threshold").click()

    page.get_by_role("link", name="Compare with production or the baseline").click()
    expect(page.get_by_test_id("release-diff")).to_contain_text(f"v{tuned.number} against v{baseline.number}")
    expect(page.get_by_test_id("metric-deltas")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_test_id("download-release-diff").click()
    assert download.value.suggested_filename == f"release-diff-v{tuned.number}-vs-v{baseline.number}.md"
    assert not js_errors, "\n".join(js_errors + where)
