"""Eval runs executed for real on a tiny random Llama: first in this process (every layer, every task
type), then through a real Celery worker on the evaluation queue."""

from __future__ import annotations

import io
import json

import pytest

from evaluation import services
from evaluation.execution import execute_eval_run
from evaluation.models import EvalResult, EvalRun
from tests.worker import ON_POSTGRESQL, drop_idle_connections_until, wait_until

EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 12},
        "guests": {"type": "integer", "minimum": 1, "maximum": 20},
    },
    "required": ["city", "guests"],
    "additionalProperties": False,
}
CITIES = ["Paris", "Lyon", "Nice", "Lille", "Nantes", "Rennes"]


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory):
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def _baseline(project, dataset_version, tiny_llama_path):
    from training.services import baseline_ensure
    from training.tests.factories import BaseModelFactory

    base_model = BaseModelFactory(source=str(tiny_llama_path))
    return baseline_ensure(
        project=project, dataset_version=dataset_version, base_model=base_model, user=project.owner
    )


def _signed_spec(project, user, **document):
    spec = services.eval_spec_create(project=project, user=user, document=document)
    return services.eval_spec_sign(spec=spec, user=user)


def _extraction_project(team, owner):
    from projects import services as project_services
    from projects.tests.factories import CharterFactory, ProjectFactory, jsonl_bytes

    project = ProjectFactory(
        team=team,
        owner=owner,
        task_type="extraction",
        slug="bookings",
        instructions="Extract the city and the number of guests as JSON.",
        output_schema=EXTRACTION_SCHEMA,
    )
    CharterFactory(
        project=project,
        author=owner,
        version=1,
        success_measures=[{"metric": "slot F1", "baseline": 0.5, "target": 0.9, "higher_is_better": True}],
    )
    rows = [
        {
            "input": f"A table for {n % 7 + 1} in {CITIES[n % 6]} on day {n}, please.",
            "output": {"city": CITIES[n % 6], "guests": n % 7 + 1},
        }
        for n in range(40)
    ]
    version = project_services.dataset_upload(
        project=project, user=owner, file=io.BytesIO(jsonl_bytes(rows)), filename="b.jsonl", name="Bookings"
    )
    return project, version


@pytest.mark.django_db(transaction=True)
def test_a_classification_run_answers_every_layer_with_a_valid_label_and_calibrated_confidence(
    project, dataset_version, product_owner, tiny_llama_path
):
    baseline = _baseline(project, dataset_version, tiny_llama_path)
    spec = _signed_spec(
        project,
        product_owner,
        cases=[{"input": "Where is my parcel 5512?", "expected": "shipping", "tags": ["vip"]}],
        layers={
            "stress": {"per_perturbation": 3},
            "policy": {"probes": [{"id": "mine", "category": "out_of_scope", "input": "Sing."}]},
        },
    )
    run = services.eval_run_create(user=product_owner, model_version=baseline, spec=spec)
    execute_eval_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.failure_reason, run.failure_traceback)
    results = list(EvalResult.objects.filter(run=run))
    labels = set(dataset_version.labels)
    assert results and all(r.output in labels for r in results)  # policy probes and stress cases included
    assert {r.layer for r in results} == {"regression", "stress", "policy"}
    assert all(0 < r.confidence <= 1 for r in results)
    regression = [r for r in results if r.layer == "regression"]
    assert len(regression) == dataset_version.split_counts["test"] + 1
    assert run.metrics["all"]["count"] == len(regression)
    assert run.metrics["all"]["accuracy"] == sum(r.correct for r in regression) / len(regression)
    assert run.metrics["tag:vip"]["count"] == 1 and "layer:policy" in run.metrics
    assert any(key.startswith("label:") for key in run.metrics) and any(
        k.startswith("length:") for k in run.metrics
    )
    assert run.metrics["layer:policy"]["pass_rate"] is not None
    assert [v["gate"]["metric"] for v in run.gate_report["verdicts"]] == ["accuracy"]
    assert run.gates_passed == run.gate_report["passed"]
    assert len(run.coverage_curve) == 101 and run.coverage_curve[0]["coverage"] == 1.0
    assert run.temperature["temperature"] > 0 and "ece_before" in run.temperature
    assert run.cost["cost_per_1000_requests"] is not None and run.reliability
    assert run.examples_done == run.examples_total == len(results)


def _fine_tuned(project, dataset_version, tiny_llama_path, settings):
    """A LoRA version of the tiny Llama trained for two steps, stored as a worker would store it."""
    import shutil

    from projects.ingest.export import read_jsonl
    from training.engine.config import Hyperparameters
    from training.engine.runner import NullReporter, run_training
    from training.models import ModelVersion

    with open(dataset_version.rows_path, "rb") as handle:
        rows = list(read_jsonl(handle))
    result = run_training(
        work_dir=settings.ARTIFACTS_DIR / "jobs" / "eval-test",
        base_model=tiny_llama_path,
        train_rows=rows[:8],
        val_rows=[],
        instructions=project.instructions,
        task_type="classification",
        labels=dataset_version.labels,
        hyperparameters=Hyperparameters(max_steps=2, epochs=None, batch_size=4),
        reporter=NullReporter(),
    )
    storage_name = f"{project.pk}-eval-test"
    shutil.copytree(result.output_dir, settings.ARTIFACTS_DIR / "models" / storage_name)
    baseline = _baseline(project, dataset_version, tiny_llama_path)
    return ModelVersion.objects.create(
        project=project,
        number=baseline.number + 1,
        base_model=baseline.base_model,
        dataset_version=dataset_version,
        storage_name=storage_name,
        created_by=project.owner,
    )


@pytest.mark.django_db(transaction=True)
def test_a_fine_tuned_version_is_evaluated_from_its_stored_adapter(
    project, dataset_version, product_owner, tiny_llama_path, settings
):
    version = _fine_tuned(project, dataset_version, tiny_llama_path, settings)
    layers = {"stress": {"enabled": False}, "policy": {"built_in": False}}
    spec = _signed_spec(project, product_owner, layers=layers)
    run = services.eval_run_create(user=product_owner, model_version=version, spec=spec)
    execute_eval_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.failure_reason, run.failure_traceback)
    outputs = set(EvalResult.objects.filter(run=run).values_list("output", flat=True))
    assert outputs and outputs <= set(dataset_version.labels)
    assert run.metrics["all"]["count"] == dataset_version.split_counts["test"]


@pytest.mark.django_db(transaction=True)
def test_an_extraction_run_always_answers_json_that_satisfies_the_schema(team, owner, tiny_llama_path):
    project, version = _extraction_project(team, owner)
    baseline = _baseline(project, version, tiny_llama_path)
    layers = {"stress": {"per_perturbation": 2, "out_of_domain": False}, "policy": {"built_in": False}}
    spec = _signed_spec(project, owner, layers=layers)
    assert spec.gates == [
        {"kind": "threshold", "metric": "field_f1", "comparator": ">=", "threshold": 0.9, "slice": "all"}
    ]
    run = services.eval_run_create(user=owner, model_version=baseline, spec=spec)
    execute_eval_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.failure_reason, run.failure_traceback)
    from projects.ingest.schema import SchemaValidator

    validator = SchemaValidator(EXTRACTION_SCHEMA)
    results = list(EvalResult.objects.filter(run=run))
    assert results and all(validator.is_valid(json.loads(r.output)) for r in results)
    assert run.metrics["all"]["json_valid_rate"] == 1.0 and run.metrics["all"]["schema_valid_rate"] == 1.0
    assert run.layer_metrics["not_json"]["count"] == 0
    assert "field_f1" in run.metrics["all"]


def _run_on_a_worker(start_worker, api, project, dataset_version, product_owner, tiny_llama_path) -> int:
    """A worker on the evaluation queue and a run of the baseline (stress layer on) posted through the API."""
    baseline = _baseline(project, dataset_version, tiny_llama_path)
    spec = _signed_spec(project, product_owner, layers={"stress": {"per_perturbation": 2}})
    start_worker("evaluation", STUDIO_REAPER_INTERVAL_SECONDS="1")
    response = api.as_user(product_owner).post(
        "/api/v1/eval-runs/", {"model_version": baseline.pk, "spec": spec.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.worker
def test_an_eval_run_goes_through_a_real_worker_on_the_evaluation_queue(
    start_worker, api, project, dataset_version, product_owner, tiny_llama_path
):
    run_id = _run_on_a_worker(start_worker, api, project, dataset_version, product_owner, tiny_llama_path)
    run = wait_until(
        lambda: (lambda r: r.is_terminal and r)(EvalRun.objects.get(pk=run_id)),
        timeout=240,
        message="the eval run",
    )
    assert run.status == "succeeded", (run.failure_reason, run.failure_traceback)
    body = api.get(f"/api/v1/eval-runs/{run_id}/").json()
    assert body["progress"] == 1.0 and body["gate_report"]["verdicts"] and body["coverage_curve"]
    wrong = api.get(
        f"/api/v1/eval-runs/{run_id}/results/", {"layer": "regression", "correct": "false"}
    ).json()
    assert all(r["layer"] == "regression" and r["correct"] is False for r in wrong["results"])
    probes = api.get(f"/api/v1/eval-runs/{run_id}/results/", {"slice": "layer:policy", "page_size": 5}).json()
    assert probes["count"] >= 14 and len(probes["results"]) == 5


if ON_POSTGRESQL:  # SQLite has no server connection to drop (see tests/test_faults.py)

    @pytest.mark.worker
    def test_an_eval_run_outlives_its_workers_database_connections_dropped(
        start_worker, api, project, dataset_version, product_owner, tiny_llama_path
    ):
        run_id = _run_on_a_worker(start_worker, api, project, dataset_version, product_owner, tiny_llama_path)
        run, dropped = drop_idle_connections_until(
            lambda: (lambda r: r.is_terminal and r)(EvalRun.objects.get(pk=run_id)),
            timeout=240,
            message="the eval run",
        )
        assert dropped >= 1
        assert run.status == "succeeded", (run.failure_reason, run.failure_traceback)
        assert run.attempt == 1 and run.examples_done == run.examples_total
        assert EvalResult.objects.filter(run=run).count() >= 1 and run.gate_report["verdicts"]
