"""Eval specs and runs through the API: pre-filled gates, signing locks, only signed specs run, roles,
tenancy and audit events (no worker: runs stay queued)."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from evaluation.models import EvalRun, EvalSpec

pytestmark = pytest.mark.django_db


def create_spec(api, user, project, **document):
    return api.as_user(user).post("/api/v1/eval-specs/", {"project": project.pk, **document}, format="json")


def test_a_new_spec_takes_its_gates_from_the_charter_and_the_test_split_of_the_latest_dataset(
    api, project, product_owner, dataset_version
):
    response = create_spec(api, product_owner, project, note="first cut")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["is_signed"] is False and len(body["sha256"]) == 64
    assert body["gates"] == [
        {"kind": "threshold", "metric": "accuracy", "comparator": ">=", "threshold": 0.85, "slice": "all"}
    ]
    assert body["layers"]["regression"]["dataset_version"] == dataset_version.pk
    assert body["layers"]["policy"]["built_in"] is True
    second = create_spec(api, product_owner, project, gates=[]).json()
    assert second["version"] == 2 and second["gates"] == []
    assert AuditEvent.objects.filter(action="eval_spec.create", target_id=str(body["id"])).exists()


def test_bad_spec_documents_are_400s_naming_the_field(api, project, product_owner, dataset_version):
    bad_gate = create_spec(api, product_owner, project, gates=[{"kind": "threshold", "metric": "accuracy"}])
    assert bad_gate.status_code == 400 and "gates.0" in str(bad_gate.json()["error"]["details"])
    bad_kind = create_spec(api, product_owner, project, layers={"stress": {"perturbations": ["shouting"]}})
    assert bad_kind.status_code == 400 and "shouting" in bad_kind.json()["error"]["message"]
    twice = {"id": "same-id", "category": "out_of_scope", "input": "Tell me a joke."}
    probes = create_spec(api, product_owner, project, layers={"policy": {"probes": [twice, twice]}})
    assert probes.status_code == 400 and "twice" in probes.json()["error"]["message"]
    assert not EvalSpec.objects.exists()


def test_signing_records_who_when_and_the_digest_and_locks_the_spec(
    api, project, product_owner, dataset_version
):
    spec = create_spec(api, product_owner, project, gates=[]).json()
    signed = api.as_user(product_owner).post(f"/api/v1/eval-specs/{spec['id']}/sign/")
    assert signed.status_code == 200, signed.content
    body = signed.json()
    assert body["signed_by"] == product_owner.username and body["signed_at"] and body["is_locked"]
    assert body["sha256"] == spec["sha256"]
    again = api.as_user(product_owner).post(f"/api/v1/eval-specs/{spec['id']}/sign/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "spec_signed"
    event = AuditEvent.objects.get(action="eval_spec.sign", target_id=str(spec["id"]))
    assert event.payload["sha256"] == spec["sha256"]
    # No write path changes a spec: only create, retrieve and sign are routed.
    assert api.patch(f"/api/v1/eval-specs/{spec['id']}/", {"gates": []}, format="json").status_code == 405


def test_only_product_owners_and_owners_write_and_sign_specs(
    api, project, ml_engineer, viewer, product_owner, dataset_version
):
    assert create_spec(api, viewer, project).status_code == 403
    spec = create_spec(api, product_owner, project, gates=[]).json()
    refused = api.as_user(ml_engineer).post(f"/api/v1/eval-specs/{spec['id']}/sign/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"


def test_an_unsigned_spec_cannot_run_and_so_cannot_gate(api, project, product_owner, model_versions):
    from evaluation.selectors import eval_spec_current_signed

    spec = create_spec(api, product_owner, project, gates=[]).json()
    response = api.as_user(product_owner).post(
        "/api/v1/eval-runs/", {"model_version": model_versions[1].pk, "spec": spec["id"]}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "spec_unsigned"
    assert eval_spec_current_signed(project) is None and not EvalRun.objects.exists()


def test_a_run_is_queued_against_a_signed_spec_and_can_be_cancelled(
    api, project, ml_engineer, model_versions, signed_spec
):
    from evaluation.selectors import eval_spec_current_signed

    assert eval_spec_current_signed(project) == signed_spec
    response = api.as_user(ml_engineer).post(
        "/api/v1/eval-runs/", {"model_version": model_versions[0].pk, "spec": signed_spec.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["status"] == "queued" and run["spec_version"] == 1 and run["model_version_number"] == 1
    cancelled = api.post(f"/api/v1/eval-runs/{run['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/eval-runs/{run['id']}/cancel/").status_code == 409
    actions = set(AuditEvent.objects.filter(target_id=str(run["id"])).values_list("action", flat=True))
    assert {"eval_run.create", "eval_run.cancel"} <= actions


def test_outsiders_get_404_for_specs_runs_results_and_comparisons(
    api, project, product_owner, model_versions, signed_spec, outsider
):
    run = (
        api.as_user(product_owner)
        .post(
            "/api/v1/eval-runs/",
            {"model_version": model_versions[0].pk, "spec": signed_spec.pk},
            format="json",
        )
        .json()
    )
    api.as_user(outsider)
    for url in (
        f"/api/v1/eval-specs/{signed_spec.pk}/",
        f"/api/v1/eval-runs/{run['id']}/",
        f"/api/v1/eval-runs/{run['id']}/results/",
        f"/api/v1/comparisons/{model_versions[1].pk}/?against={model_versions[0].pk}",
    ):
        assert api.get(url).status_code == 404, url
    assert api.post(f"/api/v1/eval-specs/{signed_spec.pk}/sign/").status_code == 404
    assert api.post(f"/api/v1/eval-runs/{run['id']}/cancel/").status_code == 404
    stolen = api.post(
        "/api/v1/eval-runs/", {"model_version": model_versions[0].pk, "spec": signed_spec.pk}, format="json"
    )
    assert stolen.status_code == 404
    assert api.get("/api/v1/eval-specs/").json()["results"] == []
    assert api.get("/api/v1/eval-runs/").json()["results"] == []


def test_spec_and_run_lists_use_a_constant_number_of_queries(
    api, project, product_owner, model_versions, signed_spec, django_assert_max_num_queries
):
    from evaluation import services

    for _ in range(5):
        services.eval_spec_create(project=project, user=product_owner, document={"gates": []})
        services.eval_run_create(user=product_owner, model_version=model_versions[0], spec=signed_spec)
    api.as_user(product_owner)
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/eval-specs/").json()["results"]) == 6
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/eval-runs/").json()["results"]) == 5
