"""The serving pages as people use them: publish, configure, keys shown once, review queue, charts."""

import pytest
from django.urls import reverse

from serving import services
from serving.choices import ReviewStatus, Route
from serving.models import ApiKey, Endpoint, ReviewItem
from serving.tests.factories import project_in_production, published, staging_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(team, owner, settings):
    return project_in_production(team=team, owner=owner, settings=settings)


@pytest.fixture
def endpoint(production, owner):
    project, _ = production
    return published(project=project, user=owner, routing_threshold=0.5)


def text(response) -> str:
    return response.content.decode()


def test_publish_from_the_endpoints_page(client, production, ml_engineer):
    project, version = production
    client.force_login(ml_engineer)
    listing = client.get(reverse("serving:endpoint_list"))
    assert "No endpoints yet" in text(listing) and reverse("serving:endpoint_create") in text(listing)
    form = client.get(reverse("serving:endpoint_create"), {"project": project.pk})
    assert project.name in text(form)
    response = client.post(
        reverse("serving:endpoint_create"), {"project": project.pk, "slug": "support", "description": "Mail"}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "serving:endpoint_detail", args=["support"]
    )
    page = client.get(response["Location"])
    assert f"v{version.number}" in text(page)
    # a new endpoint: no empty charts, but what to do for the first ones
    assert "chart-latency" not in text(page) and 'data-testid="no-traffic"' in text(page)
    refused = client.post(reverse("serving:endpoint_create"), {"project": project.pk, "slug": "support"})
    assert refused.status_code == 200 and "already exists" in text(refused)


def test_every_page_renders_for_every_member(client, endpoint, member_by_role):
    item = services.request_log_record(
        endpoint=endpoint,
        status_code=200,
        route=Route.ESCALATE,
        confidence=0.2,
        input_text="Hi",
        output_text="billing",
    ).review_item
    pages = [
        reverse("serving:endpoint_list"),
        reverse("serving:endpoint_detail", args=[endpoint.slug]),
        reverse("serving:endpoint_detail", args=[endpoint.slug]) + "?window=7d",
        reverse("serving:review_queue", args=[endpoint.slug]),
        reverse("serving:review_queue", args=[endpoint.slug]) + "?status=pending",
    ]
    for role, user in member_by_role.items():
        client.force_login(user)
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, (role, url)
        queue = text(client.get(pages[3]))
        assert (reverse("serving:review_confirm", args=[item.pk]) in queue) == (role != "viewer"), role
        detail = text(client.get(pages[1]))
        assert ('data-testid="key-form"' in detail) == (role == "owner"), role
        assert (reverse("serving:endpoint_settings", args=[endpoint.slug]) in detail) == (
            role in ("owner", "ml_engineer")
        ), role


def test_a_key_created_on_the_page_is_shown_once_and_stored_hashed(client, endpoint, owner):
    client.force_login(owner)
    response = client.post(
        reverse("serving:api_key_create", args=[endpoint.slug]),
        {"name": "helpdesk", "rate_limit_per_minute": 120},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get()
    secret = response.context["secret"]
    assert secret in text(response) and key.secret_hash == ApiKey.hash_secret(secret)
    detail = text(client.get(reverse("serving:endpoint_detail", args=[endpoint.slug])))
    assert key.prefix in detail and secret not in detail

    revoke = client.post(reverse("serving:api_key_revoke", args=[key.pk]), {"endpoint": endpoint.slug})
    assert revoke["Location"] == reverse("serving:endpoint_detail", args=[endpoint.slug])
    assert services.api_key_authenticate(secret) is None


def test_the_key_form_url_opened_again_shows_the_form_and_creates_nothing(client, endpoint, owner):
    client.force_login(owner)
    page = client.get(reverse("serving:api_key_create", args=[endpoint.slug]))
    assert page.status_code == 200 and "Create the key" in text(page)
    assert 'data-testid="key-secret"' not in text(page) and not ApiKey.objects.exists()


def test_bad_key_input_is_shown_on_the_form(client, endpoint, owner):
    client.force_login(owner)
    response = client.post(
        reverse("serving:api_key_create", args=[endpoint.slug]), {"name": "", "rate_limit_per_minute": 0}
    )
    assert response.status_code == 400 and not ApiKey.objects.exists()
    assert 'data-testid="key-secret"' not in text(response)


def test_settings_page_changes_routing_and_refuses_contradictions(client, production, endpoint, owner):
    _, version = production
    staged = staging_version(version)
    client.force_login(owner)
    url = reverse("serving:endpoint_settings", args=[endpoint.slug])
    form = client.get(url)
    assert form.status_code == 200
    values = {
        "description": "",
        "status": "active",
        "routing_threshold": "0.42",
        "fallback": "review_queue",
        "fallback_url": "",
        "fallback_timeout_s": "30",
        "shadow_version": staged.pk,
        "canary_version": "",
        "canary_percent": "0",
        "log_policy": "redacted",
        "max_input_tokens": "1024",
        "max_tokens_cap": "64",
        "request_timeout_s": "20",
    }
    assert client.post(url, values).status_code == 302
    endpoint.refresh_from_db()
    assert (
        endpoint.routing_threshold == 0.42
        and endpoint.shadow_version == staged
        and endpoint.max_tokens_cap == 64
    )
    refused = client.post(url, {**values, "fallback": "forward"})
    assert refused.status_code == 200 and "needs its URL" in text(refused)
    endpoint.refresh_from_db()
    assert endpoint.fallback == "review_queue"


def test_review_queue_confirm_correct_and_export(client, endpoint, owner, ml_engineer):
    def escalate(words):
        log = services.request_log_record(
            endpoint=endpoint,
            status_code=200,
            route=Route.ESCALATE,
            confidence=0.2,
            input_text=words,
            output_text="billing",
        )
        return log.review_item

    first, second = escalate("Charged twice on invoice 12"), escalate("Parcel 40 is lost")
    client.force_login(ml_engineer)
    queue = reverse("serving:review_queue", args=[endpoint.slug])
    page = text(client.get(queue))
    assert "Parcel 40 is lost" in page and "Nothing to review" not in page
    assert client.post(reverse("serving:review_confirm", args=[first.pk]))["Location"] == queue
    pending = text(client.get(f"{queue}?status=pending"))
    choice = pending[pending.index(f'id="correct-{second.pk}"') :]
    assert '<option value="billing" selected>' in choice[: choice.index("</select>")]  # the model's answer
    corrected = client.post(
        reverse("serving:review_correct", args=[second.pk]),
        {"corrected_output": "shipping", "status": "pending"},
    )
    assert corrected["Location"] == f"{queue}?status=pending"  # the filter the reviewer was working in
    assert dict(ReviewItem.objects.values_list("pk", "status")) == {
        first.pk: ReviewStatus.CONFIRMED,
        second.pk: ReviewStatus.CORRECTED,
    }
    assert "Add 2 reviewed examples" in text(client.get(queue))
    exported = client.post(reverse("serving:review_export", args=[endpoint.slug]))
    version = ReviewItem.objects.get(pk=second.pk).exported_to
    assert exported["Location"] == reverse("projects:dataset_version_detail", args=[version.pk])
    assert version.operation == "reviewed_examples"


def test_charts_and_figures_reflect_logged_traffic(client, endpoint, owner):
    for latency, status, route in (
        (100, 200, Route.ANSWER),
        (300, 200, Route.ESCALATE),
        (50, 504, Route.ANSWER),
    ):
        services.request_log_record(
            endpoint=endpoint,
            status_code=status,
            route=route,
            latency_ms=latency,
            input_tokens=1000,
            output_tokens=0,
            error_code="timeout" if status == 504 else "",
        )
    client.force_login(owner)
    response = client.get(reverse("serving:endpoint_detail", args=[endpoint.slug]))
    stats = {testid: value for _, value, testid in response.context["stats"]}
    assert stats["stat-requests"] == "3"
    assert (
        stats["stat-timeouts"] == "33.3%"
        and stats["stat-escalated"] == "33.3%"
        and stats["stat-errors"] == "0.0%"
    )
    assert stats["stat-p50"] == "100 ms"
    # 3,000 tokens at 0.0002 per 1,000: 0.0006 in all, 0.2 per 1,000 requests, 0.0006 per (one) success
    assert stats["stat-cost-1000"] == "0.2000 USD" and stats["stat-cost-success"] == "0.000600 USD"


def test_viewers_get_403_and_outsiders_404_on_every_serving_page(client, endpoint, owner, viewer, outsider):
    key, _ = services.api_key_create(user=owner, team=endpoint.project.team, name="x", endpoints=[endpoint])
    item = services.request_log_record(
        endpoint=endpoint, status_code=200, route=Route.ESCALATE, input_text="Hi", output_text="billing"
    ).review_item
    posts = [
        reverse("serving:endpoint_settings", args=[endpoint.slug]),
        reverse("serving:api_key_create", args=[endpoint.slug]),
        reverse("serving:api_key_revoke", args=[key.pk]),
        reverse("serving:review_confirm", args=[item.pk]),
        reverse("serving:review_correct", args=[item.pk]),
        reverse("serving:review_export", args=[endpoint.slug]),
    ]
    client.force_login(viewer)
    for url in posts:
        assert client.post(url, {"name": "x", "corrected_output": "shipping"}).status_code == 403, url
    client.force_login(outsider)
    gets = [
        reverse("serving:endpoint_detail", args=[endpoint.slug]),
        reverse("serving:endpoint_settings", args=[endpoint.slug]),
        reverse("serving:review_queue", args=[endpoint.slug]),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, {"name": "x", "corrected_output": "shipping"}).status_code == 404, url
    assert endpoint.slug not in text(client.get(reverse("serving:endpoint_list")))
    key.refresh_from_db()
    item.refresh_from_db()
    assert key.revoked_at is None and item.status == ReviewStatus.PENDING
    assert Endpoint.objects.get().status == "active"


def test_the_project_page_leads_to_publishing_then_to_the_endpoint(client, production, ml_engineer, owner):
    project, version = production
    client.force_login(ml_engineer)
    body = text(client.get(reverse("projects:project_detail", args=[project.pk])))
    publish_url = f"{reverse('serving:endpoint_create')}?project={project.pk}"
    assert f"v{version.number} is in production, not yet published" in body and publish_url in body
    published(project=project, user=owner, slug="support")
    body = text(client.get(reverse("projects:project_detail", args=[project.pk])))
    assert f"support serves v{version.number}" in body
    assert reverse("serving:endpoint_detail", args=["support"]) in body
    assert 'data-testid="project-endpoints"' in body


def test_the_team_home_shows_the_weekly_serving_summary(client, endpoint, owner, viewer):
    client.force_login(viewer)
    assert 'data-testid="team-weekly-serving"' in text(client.get(reverse("projects:project_list")))
    key, _ = services.api_key_create(user=owner, team=endpoint.project.team, name="x", endpoints=[endpoint])
    for route in (Route.ANSWER, Route.ANSWER, Route.ESCALATE, Route.ANSWER):
        services.request_log_record(
            endpoint=endpoint, api_key=key, status_code=200, route=route, input_tokens=500
        )
    response = client.get(reverse("projects:project_list"))
    body = text(response)
    assert '<div class="studio-stat-value" data-testid="weekly-requests">4</div>' in body
    assert "25%" in body and "team-weekly-serving-chart" in body


def test_shadow_is_compared_with_production_on_live_traffic_and_offline(client, production, endpoint, owner):
    from evaluation.models import EvalRun, EvalSpec

    _, version = production
    staged = staging_version(version)
    services.endpoint_update(endpoint=endpoint, user=owner, shadow_version=staged)
    spec = EvalSpec.objects.create(
        project=endpoint.project, version=1, gates=[], created_by=owner, sha256="a" * 64
    )
    EvalRun.objects.create(
        project=endpoint.project,
        spec=spec,
        model_version=staged,
        created_by=owner,
        status="succeeded",
        metrics={"all": {"accuracy": 0.955, "count": 40}},
    )
    for production_answer, shadow_answer in (
        ("billing", "billing"),
        ("billing", "shipping"),
        ("returns", "returns"),
    ):
        answered = services.request_log_record(
            endpoint=endpoint,
            model_version=version,
            status_code=200,
            output_text=production_answer,
            latency_ms=80,
        )
        services.request_log_record(
            endpoint=endpoint,
            model_version=staged,
            status_code=200,
            route=Route.SHADOW,
            output_text=shadow_answer,
            latency_ms=120,
            shadow_of=answered,
        )
    client.force_login(owner)
    response = client.get(reverse("serving:endpoint_detail", args=[endpoint.slug]))
    body = text(response)
    assert response.context["shadow_agreement"] == "66.7%"
    offline = response.context["offline"]
    assert offline["shadow"] == {
        "metric": "accuracy",
        "value": 0.955,
        "source": f"eval run #{EvalRun.objects.get().pk}",
    }
    assert offline["production"]["source"] == "training validation"
    assert 'data-testid="shadow-comparison"' in body and "66.7%" in body
    # shadow answers never count as traffic
    assert {testid: value for _, value, testid in response.context["stats"]}["stat-requests"] == "3"
