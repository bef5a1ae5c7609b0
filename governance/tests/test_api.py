"""The promotions API, rollback, and model cards under model-versions: the contract, roles and tenancy."""

from __future__ import annotations

import pytest

from governance.tests.helpers import GATE_LABEL, record_run

pytestmark = pytest.mark.django_db


def test_a_request_is_created_approved_and_listed_through_the_api(
    api, candidate, production, product_owner, ml_engineer
):
    created = api.as_user(product_owner).post(
        "/api/v1/promotions/",
        {"model_version": candidate.pk, "target_stage": "production", "reason": "Better"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["tier"], body["status"], body["missing_roles"]) == (1, "pending", ["ml_engineer"])
    assert body["evidence"]["eval_run"]["verdicts"][0]["label"] == GATE_LABEL

    refused = api.as_user(product_owner).post(f"/api/v1/promotions/{body['id']}/approve/", {}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "self_approval"
    approved = api.as_user(ml_engineer).post(
        f"/api/v1/promotions/{body['id']}/approve/", {"comment": "ok"}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    listing = api.get("/api/v1/promotions/", {"project": candidate.project_id, "status": "approved"}).json()
    assert [item["id"] for item in listing["results"]] == [body["id"]]
    versions = api.get(f"/api/v1/model-versions/{candidate.pk}/").json()
    assert versions["stage"] == "production"


def test_failing_gates_answer_409_and_a_risk_acceptance_is_accepted(
    api, make_version, signed_spec, production, product_owner
):
    version = make_version(3, weights=b"weak")
    record_run(version, signed_spec, passed=False)
    api.as_user(product_owner)
    refused = api.post(
        "/api/v1/promotions/", {"model_version": version.pk, "target_stage": "production"}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "gates_failed",
        "message": refused.json()["error"]["message"],
        "details": {"failing_gates": [GATE_LABEL]},
    }
    accepted = api.post(
        "/api/v1/promotions/",
        {
            "model_version": version.pk,
            "target_stage": "production",
            "risk_acceptance": {"gates": [GATE_LABEL], "reason": "Peak season", "until": "2099-01-31"},
        },
        format="json",
    )
    assert accepted.status_code == 201 and accepted.json()["tier"] == 2


def test_reject_needs_a_comment_and_ends_the_request(api, candidate, product_owner, ml_engineer):
    promotion = (
        api.as_user(product_owner)
        .post(
            "/api/v1/promotions/", {"model_version": candidate.pk, "target_stage": "staging"}, format="json"
        )
        .json()
    )
    api.as_user(ml_engineer)
    assert api.post(f"/api/v1/promotions/{promotion['id']}/reject/", {}, format="json").status_code == 400
    rejected = api.post(
        f"/api/v1/promotions/{promotion['id']}/reject/", {"comment": "Too weak"}, format="json"
    )
    assert rejected.json()["status"] == "rejected"
    assert api.post(f"/api/v1/promotions/{promotion['id']}/approve/", {}, format="json").status_code == 409


def test_rollback_through_the_api(api, candidate, production, product_owner, ml_engineer, viewer):
    promotion = (
        api.as_user(product_owner)
        .post(
            "/api/v1/promotions/",
            {"model_version": candidate.pk, "target_stage": "production"},
            format="json",
        )
        .json()
    )
    api.as_user(ml_engineer).post(f"/api/v1/promotions/{promotion['id']}/approve/", {}, format="json")
    body = {"project": candidate.project_id, "reason": "Wrong refunds"}
    assert api.as_user(viewer).post("/api/v1/promotions/rollback/", body, format="json").status_code == 403
    restored = api.as_user(ml_engineer).post("/api/v1/promotions/rollback/", body, format="json")
    assert restored.status_code == 200 and restored.json()["id"] == production.pk
    history = api.get(f"/api/v1/model-versions/{candidate.pk}/stage-history/").json()["results"]
    assert [(h["from_stage"], h["to_stage"], h["kind"]) for h in history] == [
        ("production", "candidate", "rollback"),
        ("candidate", "production", "promotion"),
    ]


def test_model_card_draft_review_approve_and_markdown(api, candidate, product_owner, ml_engineer):
    url = f"/api/v1/model-versions/{candidate.pk}/card/"
    api.as_user(product_owner)
    card = api.get(url).json()
    assert card["status"] == "draft" and card["generated"]["intended_use"]["non_goals"] == "No legal advice."
    updated = api.patch(
        url, {"intended_use": "Route support e-mails", "limitations": "Weak on billing"}, format="json"
    )
    assert updated.json()["intended_use"] == "Route support e-mails"
    assert api.post(url + "submit/").json()["status"] == "in_review"
    assert api.post(url + "approve/").status_code == 403  # the writer does not approve
    assert api.as_user(ml_engineer).post(url + "approve/").json()["status"] == "approved"
    markdown = api.get(url + "markdown/")
    text = markdown.content.decode()
    assert markdown["Content-Type"].startswith("text/markdown")
    assert "# Model card: Support intents v2" in text and "Route support e-mails" in text
    assert f"PASS: {GATE_LABEL}" in text


def test_retire_through_the_api_blocks_promotion(api, candidate, product_owner):
    api.as_user(product_owner)
    assert api.post(f"/api/v1/model-versions/{candidate.pk}/retire/").json()["stage"] == "retired"
    refused = api.post(
        "/api/v1/promotions/", {"model_version": candidate.pk, "target_stage": "staging"}, format="json"
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "version_retired"


def test_outsiders_get_404_and_viewers_403(api, candidate, product_owner, outsider, viewer):
    promotion = (
        api.as_user(product_owner)
        .post(
            "/api/v1/promotions/",
            {"model_version": candidate.pk, "target_stage": "production"},
            format="json",
        )
        .json()
    )
    api.as_user(outsider)
    for method, url in [
        ("get", f"/api/v1/promotions/{promotion['id']}/"),
        ("post", f"/api/v1/promotions/{promotion['id']}/approve/"),
        ("post", f"/api/v1/promotions/{promotion['id']}/reject/"),
        ("post", f"/api/v1/promotions/{promotion['id']}/withdraw/"),
        ("get", f"/api/v1/model-versions/{candidate.pk}/card/"),
        ("post", f"/api/v1/model-versions/{candidate.pk}/retire/"),
        ("get", f"/api/v1/model-versions/{candidate.pk}/stage-history/"),
    ]:
        response = getattr(api, method)(url, {"comment": "x"}, format="json")
        assert response.status_code == 404, url
    assert api.get("/api/v1/promotions/").json()["results"] == []
    assert (
        api.post(
            "/api/v1/promotions/",
            {"model_version": candidate.pk, "target_stage": "production"},
            format="json",
        ).status_code
        == 404
    )
    assert (
        api.post(
            "/api/v1/promotions/rollback/", {"project": candidate.project_id, "reason": "x"}, format="json"
        ).status_code
        == 404
    )

    api.as_user(viewer)
    assert api.get(f"/api/v1/promotions/{promotion['id']}/").status_code == 200
    assert api.post(f"/api/v1/promotions/{promotion['id']}/approve/", {}, format="json").status_code == 403
    assert (
        api.post(
            "/api/v1/promotions/", {"model_version": candidate.pk, "target_stage": "staging"}, format="json"
        ).status_code
        == 403
    )


def test_the_promotion_list_runs_a_constant_number_of_queries(
    api, make_version, signed_spec, production, product_owner, django_assert_max_num_queries
):
    api.as_user(product_owner)
    for number in (2, 3, 4):
        version = make_version(number, weights=bytes([number]))
        record_run(version, signed_spec)
        api.post(
            "/api/v1/promotions/", {"model_version": version.pk, "target_stage": "staging"}, format="json"
        )
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/promotions/").json()["results"]) == 3


def test_the_model_card_names_the_cases_the_new_version_breaks(
    api, candidate, production, signed_spec, product_owner
):
    from evaluation.models import EvalResult, EvalRun

    def results(version, answers):
        run = EvalRun.objects.filter(model_version=version).latest("id")
        for index, (text, output, correct) in enumerate(answers):
            EvalResult.objects.create(
                run=run,
                index=index,
                case_key=f"k{index}",
                layer="regression",
                input=text,
                expected="billing",
                output=output,
                correct=correct,
            )

    results(production, [("Refund my order", "billing", True), ("Card declined", "billing", True)])
    results(candidate, [("Refund my order", "returns", False), ("Card declined", "billing", True)])
    api.as_user(product_owner).post(
        "/api/v1/promotions/", {"model_version": candidate.pk, "target_stage": "production"}, format="json"
    )
    card = api.get(f"/api/v1/model-versions/{candidate.pk}/card/").json()
    assert card["generated"]["known_weaknesses"]["broken_count"] == 1
    text = api.get(f"/api/v1/model-versions/{candidate.pk}/card/markdown/").content.decode()
    assert "1 of 2 cases that version 1 answered right are answered wrong by this version." in text
    assert "`Refund my order`: expected 'billing', got 'returns'" in text
