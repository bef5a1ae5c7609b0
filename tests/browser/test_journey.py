"""The whole journey in Chromium, by links and buttons only (no typed URL but the sign-in page), four people
each in their own browser context, one real Celery worker for training and evaluation, and the data plane
(`manage.py serve`) answering the official `openai` client:

1. the product owner signs in, creates a project, writes the charter, uploads the sample CSV through its
   column mapping, sees the personal data it holds and redacts it, writes and signs an eval spec, trains
   with the Quick preset, watches the live job page, reads the model page and asks it something (Try it),
   runs the evaluation, opens the compare page and requests the promotion to production (tier 3: the
   project's first production version) — then trains a second version, evaluates it and requests its
   promotion too (tier 1: new weights, same base model and data);
2. the ML engineer and the team owner approve the tier-3 request in the studio and the governance reviewer
   in the admin console; the ML engineer alone approves the tier-1 request; the owner publishes the
   endpoint and creates an API key;
3. the `openai` client's call succeeds; with the routing threshold raised to 1 every answer is low-confidence,
   and the next one waits in the review queue, where the owner corrects it and adds it to the training data;
4. on every page: each form field has a label, keyboard focus is visible, each chart has a table view, and
   no console error.

It replaces the product owner's first-hour walk and the separate browser walks of the evaluation, governance
and serving pages (their steps are all here, once; their logic has its own tests beside each app). Screenshots
of each step are kept under var/test-artifacts/journey/ (or STUDIO_SCREENSHOTS: the README's come from there).
The tiny random model cannot meet a real target, so the eval spec's gate asks what it can meet: the tiers are
then those of passing gates, without a risk acceptance."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import openai
import pytest
from django.conf import settings
from playwright.sync_api import expect

from governance.models import PromotionRequest, StageChange
from projects.models import DatasetVersion
from serving.models import ApiKey, RequestLog, ReviewItem
from serving.tests.test_serve_process import ServeProcess
from tests.browser.helpers import Accessibility, Screens, focus_is_visible, register_tiny_base_model
from tests.worker import wait_until
from training.models import ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PASSWORD = "pw-for-tests"  # the factories' password
SAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "support-intents.csv"
LABELS = re.compile("billing|shipping|returns|account")
JOB_TIMEOUT_MS = 240_000
FAST_WORKER = {"STUDIO_PROGRESS_INTERVAL_SECONDS": "0.5", "STUDIO_REAPER_INTERVAL_SECONDS": "5"}
GATE_THE_TINY_MODEL_MEETS = (
    '[{"kind": "threshold", "metric": "accuracy", "comparator": ">=", "threshold": 0.0, "slice": "all"}]'
)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def people(transactional_db, tiny_llama, team, owner, product_owner, ml_engineer, reviewer):
    """The demo's team and logins (``make run``), so that the screenshots show what a newcomer sees."""
    register_tiny_base_model(tiny_llama)
    from projects.management.commands.seed_demo import DEMO_TEAM

    team.name = DEMO_TEAM[0]
    team.save(update_fields=["name"])
    for user, username in (
        (owner, "owner"),
        (product_owner, "product"),
        (ml_engineer, "engineer"),
        (reviewer, "reviewer"),
    ):
        user.username = username
        user.save(update_fields=["username"])
    return {"owner": owner, "product": product_owner, "engineer": ml_engineer, "reviewer": reviewer}


class Serve:
    """``manage.py serve`` started in the background (it loads torch meanwhile), waited for when needed."""

    def __init__(self, log_path: Path):
        self.process: ServeProcess | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, args=(log_path,), daemon=True)
        self._thread.start()

    def _start(self, log_path: Path) -> None:
        try:
            self.process = ServeProcess(log_path)
        except BaseException as error:  # re-raised in the test's thread by ready()
            self.error = error

    def ready(self) -> ServeProcess:
        self._thread.join(timeout=180)
        if self.error is not None:
            raise self.error
        assert self.process is not None, "serve did not start in time"
        return self.process

    def stop(self) -> None:
        self._thread.join(timeout=180)
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def start_serve(tmp_path):
    """``start_serve()``: the data plane, loading in the background from then on; stopped after the test."""
    started: list[Serve] = []

    def start() -> Serve:
        started.append(Serve(tmp_path / "serve.log"))
        return started[-1]

    yield start
    for serve in started:
        serve.stop()


def test_the_journey_from_sign_in_to_a_corrected_answer_of_the_endpoint(
    page, open_page, live_server, login, start_worker, start_serve, people, js_errors
):
    start_worker("default,training,evaluation", **FAST_WORKER)
    a11y = Accessibility()
    shot = Screens(page, "journey")
    where = []  # the page of each console error, for the failure message
    page.on("console", lambda msg: msg.type == "error" and where.append(f"{page.url}: {msg.location}"))

    # 1. The product owner: project, charter, data, spec, model, evaluation, promotion.
    login(page, live_server, "product", PASSWORD)
    page.get_by_role("link", name="Projects").first.click()
    a11y.check(page)
    page.get_by_role("link", name=re.compile("New project|Create the first project")).first.click()
    schema = page.get_by_label(re.compile("Output JSON Schema"))
    expect(schema).to_be_hidden()  # classification projects take no schema
    page.get_by_role("radio", name=re.compile("^Extraction")).check()
    expect(schema).to_be_visible()
    page.get_by_role("radio", name=re.compile("^Classification")).check()
    expect(schema).to_be_hidden()
    a11y.check(page)
    page.get_by_label("Name").fill("Support e-mail intents")
    page.get_by_label("Instructions").fill("Classify the customer e-mail into one intent.")
    page.get_by_role("button", name=re.compile("Create")).click()
    expect(page.get_by_role("heading", name="Support e-mail intents")).to_be_visible()
    journey = page.get_by_test_id("journey")
    expect(journey.locator('[data-step="charter"]')).to_have_attribute("data-done", "false")
    a11y.check(page)
    shot("01-project")

    journey.get_by_role("link", name="Write the charter").click()
    page.get_by_label("Problem statement").fill("Agents spend minutes routing each e-mail by hand.")
    page.get_by_label("Business metric").fill("Median time to first response")
    page.get_by_label("Internal").check()
    expect(page.locator('[data-required-for="confidence_threshold"]')).to_have_text("(required)")
    page.get_by_label(re.compile("Confidence threshold")).fill("0.7")
    page.get_by_label("Metric, row 1").fill("accuracy")
    page.get_by_label("Baseline, row 1").fill("0.6")
    page.get_by_label("Target, row 1").fill("0.85")
    a11y.check(page)
    shot("02-charter")
    page.get_by_role("button", name=re.compile("Save as v1")).click()
    expect(journey.locator('[data-step="charter"]')).to_have_attribute("data-done", "true")

    # The sample CSV holds e-mail addresses and phone numbers: its columns are mapped, its PII found.
    journey.get_by_role("link", name="Upload a dataset").click()
    assert focus_is_visible(page, "#dataset-file")
    page.locator("#dataset-file").set_input_files(str(SAMPLE))
    expect(page.get_by_label("Input column")).to_have_value("message")
    expect(page.get_by_label("Output column")).to_have_value("intent")
    page.get_by_label(re.compile(r"^Name")).fill("Support e-mails")
    a11y.check(page)
    shot("03-upload")
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/datasets/versions/\d+/$"))
    expect(page.get_by_test_id("block-reasons")).to_contain_text("does not allow")
    a11y.check(page)
    shot("04-pii-found")
    page.get_by_test_id("block-reasons").get_by_role("button", name="Redact personal data").click()
    page.locator("#studio-confirm").get_by_role("button", name="Redact personal data").click()
    expect(page.get_by_test_id("version-status")).to_contain_text("Ready")
    assert DatasetVersion.objects.get(number=2).pii_summary == {}
    a11y.check(page)
    shot("05-redacted")

    # The eval spec, from the project's checklist, written and signed before any model exists.
    page.get_by_role("link", name="Support e-mail intents").first.click()
    journey.get_by_role("link", name="Write the eval spec").click()
    gates = page.get_by_label("Gates")
    expect(gates).to_have_value(re.compile('"threshold": 0.85'))  # pre-filled from the charter
    gates.fill(GATE_THE_TINY_MODEL_MEETS)
    a11y.check(page)
    page.get_by_role("button", name="Save this version").click()
    expect(page.get_by_test_id("signature")).to_contain_text("Not signed yet")
    page.get_by_test_id("sign-form").get_by_role("button", name="Sign and lock").click()
    page.locator("#studio-confirm").get_by_role("button", name="Sign and lock").click()  # it cannot be undone
    expect(page.get_by_test_id("signature")).to_contain_text("Signed by product")
    a11y.check(page)
    shot("06-spec-signed")

    # Train with the Quick preset and watch the live job page.
    page.get_by_role("link", name="Support e-mail intents").first.click()
    journey.get_by_role("link", name=re.compile("Train a model on Support e-mails v2")).click()
    page.get_by_role("radio", name=re.compile("Quick")).check()
    a11y.check(page)
    page.get_by_role("button", name="Start training").click()
    badge = page.locator('[data-live="status"] .badge')
    expect(badge).to_have_attribute("data-status", re.compile("queued|running"))
    shot("07-job-live")
    expect(badge).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("job-hardware")).not_to_contain_text("recorded when")
    page.get_by_text("Table view: Train and validation loss by step").click()  # it followed the live curves
    expect(page.locator("#loss-chart ~ details tbody tr").first).to_be_visible()
    a11y.check(page)
    shot("08-job-done")

    # The model page: what it is worth next to the baseline, and Try it.
    page.locator('[data-live="model-link"]').click()
    expect(page.get_by_role("heading", name=re.compile("model v1"))).to_be_visible()
    worth = page.get_by_test_id("model-worth")
    expect(worth).to_contain_text("Baseline on the same examples")
    expect(worth.get_by_test_id("lift")).to_contain_text("points")
    expect(page.get_by_test_id("per-label")).to_contain_text("billing")
    page.get_by_label("An input, as a user would write it").fill("I was charged twice for order 7")
    page.get_by_role("button", name="Ask the model").click()
    expect(page.get_by_test_id("try-answer")).to_have_text(LABELS, timeout=120_000)
    a11y.check(page)
    shot("09-model")
    page.get_by_test_id("try-it").scroll_into_view_if_needed()
    shot("09-try-it", top=False)

    # Evaluate v1 against the signed spec, then compare it with the baseline.
    evaluate(page, ModelVersion.objects.get(kind="fine_tuned", number=1))
    a11y.check(page)
    shot("10-evaluation")
    page.get_by_role("link", name="Compare with production or the baseline").click()
    page.get_by_role("link", name="Evaluate v0").click()  # the baseline has no run yet: the page says so
    expect(page.get_by_label("Model version")).to_have_value(str(ModelVersion.objects.get(number=0).pk))
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.get_by_test_id("gate-verdicts")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Evaluation").click()
    page.get_by_test_id("leaderboard").locator('tr[data-version="1"]').get_by_role(
        "link", name="Compare"
    ).click()
    expect(page.get_by_test_id("release-diff")).to_contain_text("v1 against v0")
    with page.expect_download() as download:
        page.get_by_test_id("download-release-diff").click()
    assert download.value.suggested_filename == "release-diff-v1-vs-v0.md"
    expect(page.get_by_test_id("metric-deltas")).to_be_visible()
    a11y.check(page)
    shot("11-compare")
    page.set_viewport_size({"width": 390, "height": 844})  # on a phone: wide tables scroll, the page does not
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    first = request_promotion(page, a11y)
    serve = start_serve()  # the data plane loads meanwhile; it serves the endpoint once published
    assert first.tier == 3, first.tier_reasons
    shot("12-requested")

    expect(page.get_by_test_id("missing-role")).to_have_text(
        ["Waiting for: ML engineer", "Waiting for: Product owner", "Waiting for: Governance reviewer"]
    )

    # While the approvers look, the product owner trains a second version on the same data: another seed (the
    # same seed would give the same weights, a tier-0 change) and one epoch, to be quick.
    page.get_by_role("link", name="Projects").first.click()
    page.get_by_role("link", name="Support e-mail intents").first.click()
    expect(journey.locator('[data-step="approval"]')).to_contain_text("Request #")
    page.get_by_test_id("train-from-project").click()
    page.get_by_role("radio", name=re.compile("Quick")).check()
    page.get_by_test_id("advanced").locator("summary").click()
    page.get_by_label("Seed").fill("7")
    page.get_by_role("spinbutton", name="Epochs").fill("1")
    page.get_by_role("button", name="Start training").click()
    expect(badge).to_have_attribute("data-status", re.compile("queued|running|succeeded"))

    # 2. Approvals: the ML engineer and the team owner in the studio, the reviewer in the admin console.
    engineer = open_page()
    login(engineer, live_server, "engineer", PASSWORD)
    approve_in_the_studio(engineer, first, a11y)
    shot("13-approved-by-engineer", engineer)
    owner = open_page()
    login(owner, live_server, "owner", PASSWORD)
    approve_in_the_studio(owner, first, a11y)

    reviewer = open_page()
    login(reviewer, live_server, "reviewer", PASSWORD)
    reviewer.get_by_test_id("user-menu").get_by_role("button").click()
    reviewer.get_by_role("link", name="Admin").click()
    reviewer.get_by_role("link", name="Promotion requests").first.click()
    reviewer.get_by_role("link", name=str(first.pk), exact=True).click()
    expect(reviewer.get_by_test_id("evidence")).to_contain_text("Support e-mails")
    a11y.check(reviewer)
    shot("14-admin-console", reviewer)
    reviewer.get_by_test_id("admin-approve").click()
    expect(reviewer.locator(".messagelist")).to_contain_text(f"Request #{first.pk} — Approved: v")
    first.model_version.refresh_from_db()
    assert first.model_version.stage == "production"
    assert StageChange.objects.filter(model_version=first.model_version, kind="promotion").count() == 1

    # The second version: evaluated and requested as tier 1, which the ML engineer alone approves.
    expect(badge).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)
    page.locator('[data-live="model-link"]').click()
    evaluate(page, ModelVersion.objects.get(kind="fine_tuned", number=2))
    page.get_by_role("link", name="Compare with production or the baseline").click()
    expect(page.get_by_test_id("release-diff")).to_contain_text("v2 against v1")
    second = request_promotion(page, a11y)
    assert second.tier == 1, second.tier_reasons
    approve_in_the_studio(engineer, second, a11y)
    second.model_version.refresh_from_db()
    assert second.model_version.stage == "production"
    assert StageChange.objects.filter(model_version=second.model_version, kind="promotion").count() == 1

    # The owner publishes the endpoint and creates a key (shown once).
    owner.get_by_role("link", name="Projects").first.click()
    owner.get_by_role("link", name="Support e-mail intents").first.click()
    owner.get_by_test_id("publish-from-project").click()
    owner.get_by_label("Slug").fill("support-mail")
    a11y.check(owner)
    owner.get_by_role("button", name="Publish").click()
    expect(owner).to_have_url(re.compile(r"/endpoints/support-mail/$"))
    expect(owner.get_by_test_id("routing")).to_contain_text("v2")
    owner.get_by_test_id("key-form").get_by_label("Name").fill("helpdesk")
    owner.get_by_role("button", name="Create the key").click()
    secret = owner.get_by_test_id("key-secret").locator("input").input_value().strip()
    assert ApiKey.objects.get().secret_hash == ApiKey.hash_secret(secret)
    a11y.check(owner)
    shot("15-key", owner)
    owner.get_by_role("link", name="Back to the endpoint").click()
    expect(owner.get_by_test_id("api-keys")).to_contain_text(secret[:8])
    assert secret not in owner.content()  # shown once
    expect(owner.get_by_test_id("no-traffic")).to_be_visible()  # what to do, not five empty charts

    # 3. The official client's call succeeds.
    api = openai.OpenAI(base_url=f"{serve.ready().url}/v1", api_key=secret, max_retries=0)
    answer = wait_until(
        lambda: _ask(api, "Where is my order 12?"),
        timeout=90,
        message=f"the endpoint to answer\n{serve.ready().log()}",
    )
    assert LABELS.fullmatch(answer.choices[0].message.content)

    # For its first weeks a person checks every answer: under a threshold of 1 each is low-confidence.
    owner.get_by_test_id("settings-link").click()
    owner.get_by_label("Routing threshold").fill("1")
    a11y.check(owner)
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.get_by_test_id("routing")).to_contain_text("below 1.0 confidence")
    question = "My parcel 12 never arrived"
    log = wait_until(lambda: _ask_once_escalated(api, question), timeout=30, message="an escalated answer")
    item = wait_until(
        lambda: ReviewItem.objects.filter(request_log=log).select_related("request_log").first(),
        timeout=15,
        message="the escalated answer in the review queue",
    )
    assert item.request_log.route == "escalate" and item.request_log.confidence < 1
    answered = item.request_log.output_text
    assert LABELS.fullmatch(answered)

    owner.reload()  # the traffic the endpoint has answered so far
    expect(owner.get_by_test_id("stat-requests")).not_to_have_text("0")
    expect(owner.get_by_test_id("stat-escalated")).not_to_have_text("0.0%")
    expect(owner.locator("#chart-latency .main-svg").first).to_be_attached()  # the charts, with traffic
    a11y.check(owner)
    shot("16-endpoint", owner)
    owner.get_by_test_id("review-link").click()
    review = owner.locator("[data-review-item]").filter(has_text=question)
    correct = "returns" if answered == "shipping" else "shipping"
    review.get_by_label("Correct label").select_option(correct)
    a11y.check(owner)
    review.get_by_test_id("correct").click()
    expect(owner.locator("[data-review-item]").filter(has_text=question)).to_contain_text("Corrected to")
    shot("17-review-corrected", owner)

    # The reviewed answer goes back into the training data, as a new dataset version.
    owner.get_by_test_id("export-form").get_by_role("button").click()
    owner.locator("[data-confirm-accept]").click()
    expect(owner).to_have_url(re.compile(r"/datasets/versions/\d+/$"))
    expect(owner.locator("body")).to_contain_text("created with the reviewed examples")
    assert DatasetVersion.objects.get(number=3).row_count == 61

    # Back on the project, every step of its checklist is done.
    owner.get_by_role("link", name="Projects").first.click()
    owner.get_by_role("link", name="Support e-mail intents").first.click()
    steps = owner.get_by_test_id("journey").locator("[data-step]")
    expect(steps.first).to_be_visible()
    assert steps.count() >= 6
    expect(steps.and_(owner.locator('[data-done="false"]'))).to_have_count(0)
    a11y.check(owner)
    shot("18-project-done", owner)

    # 4. The basics held on every page, and no page logged a console error.
    a11y.assert_clean()
    assert a11y.focused >= 20 * len(a11y.pages), "the focus audit reached the navigation and every control"
    errors = [*js_errors, *engineer.studio_js_errors, *owner.studio_js_errors, *reviewer.studio_js_errors]
    assert not errors, "\n".join(errors + where)


def _ask_once_escalated(api: openai.OpenAI, question: str):
    """Ask, and return the request's log entry if it was escalated (None while the endpoint still routes by
    the threshold it had: the data plane reads new settings at its next poll)."""
    asked = RequestLog.objects.filter(input_text=question).count()
    if _ask(api, question) is None:
        return None
    log = wait_until(
        lambda: RequestLog.objects.filter(input_text=question).order_by("pk")[asked:].first(),
        timeout=15,
        message="the request's log entry",
    )
    return log if log.route == "escalate" else None


def _ask(api: openai.OpenAI, question: str):
    try:
        return api.chat.completions.create(
            model="support-mail", messages=[{"role": "user", "content": question}]
        )
    except openai.APIStatusError as error:
        # The data plane sees a new endpoint at its next poll (404 until then), then loads it (503).
        if error.status_code in (404, 503):
            return None
        raise


def evaluate(page, version: ModelVersion) -> None:
    """From the model's page: Evaluate (the form starts on it), run it against the signed spec, follow the
    run to its verdicts and open a chart's table view."""
    page.get_by_test_id("evaluate").click()
    expect(page.get_by_label("Model version")).to_have_value(str(version.pk))
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.get_by_test_id("gate-verdicts")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )  # the page reloads itself
    expect(page.locator("#coverage-curve .main-svg").first).to_be_attached()
    page.get_by_text("Table view: Coverage and accuracy by threshold").click()


def request_promotion(page, a11y: Accessibility) -> PromotionRequest:
    """From the compare page, its next step: the model's governance page, and a request for production."""
    page.get_by_test_id("next-step").get_by_role("link", name="Request promotion").click()
    form = page.get_by_test_id("request-form")
    form.get_by_label(re.compile("Target stage")).select_option("production")
    a11y.check(page)
    page.get_by_test_id("request-promotion").click()
    expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "pending")
    return PromotionRequest.objects.latest("pk")


def approve_in_the_studio(page, promotion: PromotionRequest, a11y: Accessibility) -> None:
    page.get_by_role("link", name="Approvals").first.click()
    a11y.check(page)
    page.get_by_test_id("inbox-item").filter(has_text=f"v{promotion.model_version.number}").click()
    expect(page.get_by_test_id("gates")).to_contain_text("accuracy >= 0")
    a11y.check(page)
    page.get_by_test_id("approve").click()
    # what the approval did: recorded (n of 3, still waiting for whom), or the version promoted by the last
    expect(page.locator(".alert")).to_contain_text(
        re.compile(r"Your approval is recorded \(\d of \d\)|Approved: v")
    )
