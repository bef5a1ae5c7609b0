"""Eval runs' lease rules (the same as training jobs'), result filters and the leaderboard's queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from evaluation import selectors, services
from evaluation.execution import execute_eval_run
from evaluation.models import EvalResult, EvalRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(product_owner, model_versions, signed_spec):
    return services.eval_run_create(user=product_owner, model_version=model_versions[0], spec=signed_spec)


def test_a_run_cancelled_while_queued_is_never_started(run, product_owner):
    services.eval_run_cancel(run=run, user=product_owner)
    execute_eval_run(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.attempt == 0


def test_a_claim_repeated_by_its_worker_after_a_lost_answer_is_the_same_claim(run):
    """A claim commits, its answer is lost with the connection, and `on_a_live_connection` runs it again."""
    first = services.eval_run_claim(run_id=run.pk, worker="w1")
    again = services.eval_run_claim(run_id=run.pk, worker="w1")
    assert first is not None and again is not None and again.pk == run.pk
    run.refresh_from_db()
    assert run.status == "running" and run.attempt == 1 and run.lease_owner == "w1"
    assert services.eval_run_claim(run_id=run.pk, worker="w2") is None


@pytest.mark.django_db(transaction=True)  # the worker's end of run closes its connection, as workers do
def test_a_run_that_loses_the_database_for_longer_than_a_reconnect_is_left_to_the_reaper(run, monkeypatch):
    from django.db import OperationalError

    from evaluation import execution

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(execution, "_evaluate", database_gone)
    execute_eval_run(run.pk)
    run.refresh_from_db()
    assert run.status == "running" and run.attempt == 1 and not run.failure_reason
    assert run.lease_owner  # still leased: once it lapses the reaper queues the run again (tests below)


def test_a_worker_that_lost_its_lease_writes_nothing(run):
    assert services.eval_run_claim(run_id=run.pk, worker="w1") is not None
    EvalRun.objects.filter(pk=run.pk).update(lease_owner="w2")  # taken over
    assert not services.eval_run_record_progress(run_id=run.pk, worker="w1", done=3, total=9)
    assert not services.eval_run_succeed(run_id=run.pk, worker="w1", outcome={"metrics": {}}, results=[])
    assert not services.eval_run_fail(run_id=run.pk, worker="w1", reason="boom")
    run.refresh_from_db()
    assert run.status == "running" and run.examples_done == 0 and not EvalResult.objects.exists()


def test_the_reaper_requeues_a_lapsed_run_and_fails_it_at_the_attempt_cap(
    run, django_capture_on_commit_callbacks
):
    for attempt in range(1, run.max_attempts + 1):
        assert services.eval_run_claim(run_id=run.pk, worker=f"w{attempt}") is not None
        EvalRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            requeued = services.eval_runs_reap_stale()
        if attempt < run.max_attempts:
            assert requeued == [run.pk] and len(enqueued) == 1
            assert EvalRun.objects.get(pk=run.pk).status == "queued"
    run.refresh_from_db()
    assert run.status == "failed" and "lost 3 times" in run.failure_reason
    assert AuditEvent.objects.filter(action="eval_run.failed", target_id=str(run.pk)).exists()


def test_results_filter_by_layer_slice_and_correctness(api, product_owner, run):
    rows = [
        ("regression", True, "|all|label:billing|"),
        ("regression", False, "|all|label:returns|tag:vip|"),
        ("stress", None, "|layer:stress|tag:perturbation:out_of_domain|"),
        ("policy", False, "|layer:policy|tag:probe:pii_leak|"),
    ]
    EvalResult.objects.bulk_create(
        EvalResult(
            run=run, index=i, case_key=f"k{i}", layer=layer, input=f"in {i}", correct=correct, slices=slices
        )
        for i, (layer, correct, slices) in enumerate(rows)
    )
    api.as_user(product_owner)

    def indexes(**query):
        response = api.get(f"/api/v1/eval-runs/{run.pk}/results/", query)
        assert response.status_code == 200, response.content
        return [r["index"] for r in response.json()["results"]]

    assert indexes() == [0, 1, 2, 3]
    assert indexes(layer="regression") == [0, 1]
    assert indexes(correct="false") == [1, 3] and indexes(correct="none") == [2]
    assert indexes(slice="tag:vip") == [1] and indexes(slice="label:bill") == []
    assert indexes(layer="regression", correct="true") == [0]
    first = api.get(f"/api/v1/eval-runs/{run.pk}/results/", {"page_size": 2}).json()
    assert first["count"] == 4 and len(first["results"]) == 2 and first["next"]
    assert first["results"][1]["slices"] == ["all", "label:returns", "tag:vip"]
    assert api.get(f"/api/v1/eval-runs/{run.pk}/results/", {"layer": "nonsense"}).status_code == 400


def test_the_leaderboard_reads_every_version_with_its_latest_run_in_constant_queries(
    project, product_owner, model_versions, signed_spec, django_assert_num_queries
):
    from training.models import ModelVersion

    baseline = model_versions[0]
    for number in range(3, 13):
        ModelVersion.objects.create(
            project=project, number=number, base_model=baseline.base_model, created_by=product_owner
        )
    for version in ModelVersion.objects.filter(project=project):
        for finished in (1, 2):
            EvalRun.objects.create(
                project=project,
                spec=signed_spec,
                model_version=version,
                created_by=product_owner,
                status="succeeded",
                finished_at=timezone.now() + timedelta(minutes=finished),
                metrics={"all": {"accuracy": finished / 10}},
            )
    with django_assert_num_queries(2):
        board = selectors.leaderboard(user=product_owner, project=project, spec=signed_spec)
        assert len(board) == 12
        assert all(run.metrics["all"]["accuracy"] == 0.2 for _, run in board)
