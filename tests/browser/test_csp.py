"""The strict Content-Security-Policy in Chromium: a walk through the studio's pages (charts, forms, the
API docs, the admin) meets no violation, and plotly draws without an inline <style>."""

from __future__ import annotations

import io
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from projects import services as project_services
from projects.tests.factories import CharterFactory, ProjectFactory, classification_rows, jsonl_bytes
from training.choices import JobStatus
from training.engine.config import resolve_preset
from training.models import TrainingJob, TrainingMetricPoint
from training.tests.factories import BaseModelFactory

pytestmark = pytest.mark.browser
PASSWORD = "pw-for-tests"  # the factories' password

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def studio_objects(team, owner):
    project = ProjectFactory(team=team, owner=owner, name="Support intents", slug="support-intents")
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    version = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(12))),
        filename="intents.jsonl",
        name="Intents",
    )
    job = TrainingJob.objects.create(
        project=project,
        dataset_version=version,
        charter=project.charters.first(),
        base_model=BaseModelFactory(),
        created_by=owner,
        preset="quick",
        hyperparameters=resolve_preset("quick", n_train_examples=30, device_type="cpu").model_dump(
            mode="json"
        ),
        status=JobStatus.RUNNING,
        step=40,
        total_steps=100,
        attempt=1,
        lease_owner="worker-1",
        started_at=timezone.now(),
    )
    for step in (10, 20, 30, 40):
        TrainingMetricPoint.objects.create(job=job, step=step, train_loss=2.0 - step / 100)
    return project, version, job


def test_the_studio_pages_meet_no_content_security_policy_violation(
    page, live_server, login, owner, studio_objects, js_errors
):
    project, version, job = studio_objects
    page.context.add_init_script(RECORD_VIOLATIONS)
    visited = {}

    def visit(path: str):
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        visited[path] = page.evaluate("window.__cspViolations")
        return response

    response = visit("/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    visit("/admin/login/")
    login(page, live_server, owner.username, PASSWORD)
    for path in (
        "/",
        "/team/",
        "/tokens/",
        "/projects/",
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/datasets/upload/",
        f"/datasets/versions/{version.pk}/",
        "/jobs/",
        "/models/",
        "/approvals/",
        "/endpoints/",
        f"/jobs/{job.pk}/",
        f"/projects/{project.pk}/charter/",
        "/no-such-page/",
    ):
        visit(path)
        if path == f"/jobs/{job.pk}/":
            expect(page.locator("#loss-chart .main-svg").first).to_be_attached()
            expect(page.locator("[data-live='progress-bar']")).to_have_css("width", re.compile(r"^[1-9]"))
            # plotly's rules come from the linked stylesheet, not from a <style> it adds
            styles = "Array.from(document.querySelectorAll('style')).map((s) => [s.id, s.textContent.length])"
            assert page.evaluate(styles) == [], visited
    visit("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SLM Studio API")
    visited["/api/docs/"] = page.evaluate("window.__cspViolations")

    assert {path: seen for path, seen in visited.items() if seen} == {}
    assert [e for e in js_errors if "Content Security Policy" in e or "Refused" in e] == []
