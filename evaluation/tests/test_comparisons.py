"""Comparisons on a constructed example: metric and slice deltas, flips, config and lineage diff, and
the release diff as JSON and as a Markdown download."""

from __future__ import annotations

import pytest
from django.utils import timezone

from evaluation.models import EvalResult, EvalRun

pytestmark = pytest.mark.django_db

CASES = [  # (case key, input, expected, baseline output, candidate output)
    ("k1", "invoice charge 101", "billing", "billing", "billing"),
    ("k2", "parcel 7 lost", "shipping", "billing", "shipping"),  # fixed
    ("k3", "return order 9", "returns", "returns", "shipping"),  # broken
    ("k4", "parcel 8 late", "shipping", "shipping", "shipping"),
]


def _run(version, spec, outputs, metrics, gates_passed):
    run = EvalRun.objects.create(
        project=version.project,
        spec=spec,
        model_version=version,
        created_by=version.created_by,
        status="succeeded",
        finished_at=timezone.now(),
        metrics=metrics,
        gates_passed=gates_passed,
        gate_report={"passed": gates_passed, "verdicts": []},
    )
    EvalResult.objects.bulk_create(
        EvalResult(
            run=run,
            index=i,
            case_key=key,
            layer="regression",
            input=text,
            expected=expected,
            output=output,
            correct=output == expected,
            slices=f"|all|label:{expected}|",
        )
        for i, ((key, text, expected, *_), output) in enumerate(zip(CASES, outputs, strict=True))
    )
    return run


@pytest.fixture
def runs(model_versions, signed_spec):
    baseline, tuned = model_versions
    before = _run(
        baseline,
        signed_spec,
        [case[3] for case in CASES],
        {"all": {"accuracy": 0.75, "ece": 0.2, "count": 4}, "label:returns": {"accuracy": 1.0, "count": 1}},
        False,
    )
    after = _run(
        tuned,
        signed_spec,
        [case[4] for case in CASES],
        {"all": {"accuracy": 0.75, "ece": 0.1, "count": 4}, "label:returns": {"accuracy": 0.0, "count": 1}},
        True,
    )
    return before, after


def test_the_comparison_shows_fixed_and_broken_cases_and_the_deltas(api, product_owner, model_versions, runs):
    _baseline, tuned = model_versions
    # where the worker kept the base model's files is no difference between versions (nor shown to users)
    tuned.training_config = {
        **tuned.training_config,
        "base_model": {"key": "k", "path": "/srv/worker-7/cache"},
    }
    tuned.save(update_fields=["training_config"])
    response = api.as_user(product_owner).get(f"/api/v1/comparisons/{tuned.pk}/")  # default: the baseline
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["a"]["number"] == 2 and body["b"]["number"] == 1
    flips = body["flips"]
    assert flips["compared"] == 4 and flips["fixed_count"] == 1 and flips["broken_count"] == 1
    fixed, broken = flips["fixed"][0], flips["broken"][0]
    assert (fixed["input"], fixed["output_b"], fixed["output_a"]) == ("parcel 7 lost", "billing", "shipping")
    assert (broken["input"], broken["output_b"], broken["output_a"]) == (
        "return order 9",
        "returns",
        "shipping",
    )
    assert broken["result_a"] == EvalResult.objects.get(run=runs[1], case_key="k3").pk
    everything = body["metrics"]["all"]["metrics"]
    assert everything["accuracy"]["direction"] == "same"
    assert everything["ece"]["direction"] == "better" and everything["ece"]["delta"] == pytest.approx(-0.1)
    assert body["metrics"]["label:returns"]["metrics"]["accuracy"]["direction"] == "worse"
    assert {"key": "hyperparameters.learning_rate", "a": 0.001, "b": None} in body["config_diff"]
    assert "base_model.path" not in {item["key"] for item in body["config_diff"]}
    assert "/srv/worker-7" not in response.content.decode()
    assert any(item["key"] == "code_version" for item in body["lineage_diff"])
    notes = body["release_notes"]
    assert any("label:returns accuracy" in line for line in notes["what_regressed"])
    assert any("ece" in line for line in notes["what_moved"])


def test_the_release_diff_downloads_as_markdown(api, product_owner, model_versions, runs):
    baseline, tuned = model_versions
    response = api.as_user(product_owner).get(
        f"/api/v1/comparisons/{tuned.pk}/", {"against": baseline.pk, "format": "md"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"] == 'attachment; filename="release-diff-v2-vs-v1.md"'
    text = response.content.decode()
    assert text.startswith("# Release diff: v2 (fine_tuned) against v1 (baseline, candidate)")
    for heading in ("## What changed", "## What moved", "## What regressed", "## Risks that remain"):
        assert heading in text
    assert "Broken (regression): “return order 9”" in text and "1 fixed, 1 broken" in text


def test_comparisons_refuse_what_cannot_be_compared_with_json_errors(
    api, product_owner, model_versions, signed_spec
):
    _baseline, tuned = model_versions
    api.as_user(product_owner)
    missing = api.get(f"/api/v1/comparisons/{tuned.pk}/", {"format": "md"})
    assert missing.status_code == 409 and missing.json()["error"]["code"] == "no_common_run"
    same = api.get(f"/api/v1/comparisons/{tuned.pk}/", {"against": tuned.pk})
    assert same.status_code == 400 and same.json()["error"]["details"]["b"]


def test_governance_reads_the_latest_run_and_builds_the_diff_with_the_service(
    product_owner, model_versions, runs, signed_spec
):
    from evaluation.selectors import eval_run_latest
    from evaluation.services import comparison_build, comparison_markdown

    baseline, tuned = model_versions
    assert eval_run_latest(None, tuned, signed_spec) == runs[1]
    assert eval_run_latest(product_owner, baseline, signed_spec) == runs[0]
    diff = comparison_build(product_owner, tuned, baseline)
    assert diff["spec"]["sha256"] == signed_spec.sha256
    assert "Release diff" in comparison_markdown(diff)
