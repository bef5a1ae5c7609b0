"""A new product owner's first hour, in Chromium, by links and buttons only (no typed URLs): sign in,
create a project, write the charter, upload the sample CSV (it holds personal data), redact it, train
from the ready version on a real Celery worker, read the model page (validation score, baseline, lift)
and ask it something with "Try it". The project's checklist ends with Model ticked, no page logs a
console error, and focus stays visible. With STUDIO_SCREENSHOTS=<folder> each step is saved there (the
README's screenshots come from it)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from projects.models import DatasetVersion
from projects.tests.factories import MembershipFactory, TeamFactory, UserFactory
from training.models import BaseModel, ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PASSWORD = "pw-for-tests"
SAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "support-intents.csv"
JOB_TIMEOUT_MS = 240_000
FAST_WORKER = {"STUDIO_PROGRESS_INTERVAL_SECONDS": "0.5", "STUDIO_REAPER_INTERVAL_SECONDS": "5"}


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def product_owner_of_demo_team(transactional_db, tiny_llama):
    """The demo team's product owner, and a tiny base model as the catalog's default (fast to train)."""
    BaseModel.objects.update(is_default=False, is_active=False)  # the bundled SmolLM2 sits this one out
    BaseModel.objects.create(
        key="tiny-llama",
        name="Tiny Llama (tests)",
        source_type="local_folder",
        source=str(tiny_llama),
        architecture="LlamaForCausalLM",
        is_default=True,
    )
    team = TeamFactory(name="Customer Support", slug="support")
    return MembershipFactory(team=team, user=UserFactory(username="product"), role="product_owner").user


class Screens:
    """Saves a screenshot per step when STUDIO_SCREENSHOTS names a folder."""

    def __init__(self, page):
        self.page = page
        folder = os.environ.get("STUDIO_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        if self.folder:
            self.page.screenshot(path=str(self.folder / f"{name}.png"), full_page=False)


def focus_is_visible(page, selector: str) -> bool:
    """Whether the element (or, for a visually hidden input, its drop zone) draws a focus ring."""
    return page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          el.focus();
          const ring = (node) => {
            const style = getComputedStyle(node);
            const outline = style.outlineStyle !== "none" && style.outlineWidth !== "0px";
            return outline || style.boxShadow !== "none";
          };
          // A visually hidden input shows its focus on the drop zone around it, or nowhere.
          return el.classList.contains("visually-hidden") ? ring(el.closest(".studio-dropzone")) : ring(el);
        }""",
        selector,
    )


def test_a_product_owner_goes_from_sign_in_to_a_model_that_answers(
    page, live_server, login, start_worker, product_owner_of_demo_team, js_errors
):
    start_worker("default,training", **FAST_WORKER)
    shot = Screens(page)
    login(page, live_server, "product", PASSWORD)

    # Project
    page.get_by_role("link", name="Projects").first.click()
    page.get_by_role("link", name=re.compile("New project|Create the first project")).first.click()
    schema = page.get_by_label(re.compile("Output JSON Schema"))
    expect(schema).to_be_hidden()  # classification projects take no schema
    page.get_by_role("radio", name=re.compile("^Extraction")).check()
    expect(schema).to_be_visible()
    page.get_by_role("radio", name=re.compile("^Classification")).check()
    expect(schema).to_be_hidden()
    page.get_by_label("Name").fill("Support e-mail intents")
    page.get_by_label("Instructions").fill("Classify the customer e-mail into one intent.")
    page.get_by_role("button", name=re.compile("Create")).click()
    expect(page.get_by_role("heading", name="Support e-mail intents")).to_be_visible()
    journey = page.get_by_test_id("journey")
    expect(journey.locator('[data-step="charter"]')).to_have_attribute("data-done", "false")
    shot("1-project")

    # Charter
    journey.get_by_role("link", name="Write the charter").click()
    page.get_by_label("Problem statement").fill("Agents spend minutes routing each e-mail by hand.")
    page.get_by_label("Business metric").fill("Median time to first response")
    page.get_by_label("Internal").check()
    expect(page.locator('[data-required-for="confidence_threshold"]')).to_have_text("(required)")
    page.get_by_label(re.compile("Confidence threshold")).fill("0.7")
    page.get_by_label("Metric, row 1").fill("accuracy")
    page.get_by_label("Baseline, row 1").fill("0.6")
    page.get_by_label("Target, row 1").fill("0.85")
    shot("2-charter")
    page.get_by_role("button", name=re.compile("Save as v1")).click()
    expect(journey.locator('[data-step="charter"]')).to_have_attribute("data-done", "true")

    # Upload the sample CSV (it holds e-mail addresses and phone numbers)
    journey.get_by_role("link", name="Upload a dataset").click()
    assert focus_is_visible(page, "#dataset-file")
    page.locator("#dataset-file").set_input_files(str(SAMPLE))
    expect(page.get_by_label("Input column")).to_have_value("message")
    expect(page.get_by_label("Output column")).to_have_value("intent")
    page.get_by_label(re.compile(r"^Name")).fill("Support e-mails")
    shot("3-upload")
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/datasets/versions/\d+/$"))
    expect(page.get_by_test_id("block-reasons")).to_contain_text("does not allow")

    # Redact, right where the block is explained
    page.get_by_test_id("block-reasons").get_by_role("button", name="Redact personal data").click()
    page.locator("#studio-confirm").get_by_role("button", name="Redact personal data").click()
    expect(page.get_by_test_id("version-status")).to_contain_text("Ready")
    shot("4-dataset")
    redacted = DatasetVersion.objects.get(number=2)
    assert redacted.pii_summary == {}

    # Train from the version: the job form has it preselected
    page.get_by_test_id("train-on-version").click()
    expect(page.get_by_label("Dataset version")).to_have_value(str(redacted.pk))
    page.get_by_role("radio", name=re.compile("Quick")).check()
    page.get_by_role("button", name="Start training").click()
    badge = page.locator('[data-live="status"] .badge')
    expect(badge).to_have_attribute("data-status", re.compile("queued|running"))
    shot("5-job")
    expect(badge).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("job-hardware")).not_to_contain_text("recorded when")

    # The model page: what it is worth, next to the baseline
    page.locator('[data-live="model-link"]').click()
    expect(page.get_by_role("heading", name=re.compile("model v1"))).to_be_visible()
    worth = page.get_by_test_id("model-worth")
    expect(worth).to_contain_text("Baseline on the same examples")
    expect(worth.get_by_test_id("lift")).to_contain_text("points")
    expect(page.get_by_test_id("per-label")).to_contain_text("billing")
    model = ModelVersion.objects.get(kind="fine_tuned")
    assert model.number == 1 and model.metrics["assessment"]["comparison"] is not None

    page.evaluate("window.scrollTo(0, 0)")
    shot("6-model")

    # Try it
    page.get_by_label("An input, as a user would write it").fill("I was charged twice for order 7")
    page.get_by_role("button", name="Ask the model").click()
    answer = page.get_by_test_id("try-answer")
    expect(answer).to_have_text(re.compile("billing|shipping|returns|account"), timeout=120_000)
    page.get_by_test_id("try-it").scroll_into_view_if_needed()
    shot("7-try-it")

    # Back to the project: the checklist has Model ticked
    page.get_by_test_id("next-step").get_by_role("link", name="Back to the project").click()
    expect(journey.locator('[data-step="model"]')).to_have_attribute("data-done", "true")
    expect(journey.locator('[data-step="dataset"]')).to_have_attribute("data-done", "true")
    shot("8-project-done")
    assert js_errors == []
