"""The evaluation pages as a product owner and a viewer meet them: write and sign a spec, queue a run,
read a finished run (gates, charts with table views, per-example results), compare two versions and
download the release diff; the leaderboard's queries do not grow with versions and results."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluation.models import EvalRun, EvalSpec
from evaluation.tests.test_comparisons import _run, runs  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_a_product_owner_writes_and_signs_a_spec_in_the_browser(
    client, project, dataset_version, product_owner
):
    client.force_login(product_owner)
    hub = client.get(reverse("evaluation:project_evaluation", args=[project.pk])).content.decode()
    assert "No eval spec yet" in hub and reverse("evaluation:spec_create", args=[project.pk]) in hub

    form = client.get(reverse("evaluation:spec_create", args=[project.pk]))
    gates = json.loads(form.context["form"]["gates"].value())
    assert gates, "the gates start from the charter's success measures"

    bad = client.post(
        reverse("evaluation:spec_create", args=[project.pk]), {"gates": "[{", "layers": "{}", "cases": "[]"}
    )
    assert bad.status_code == 200 and "Not valid JSON" in bad.content.decode()
    assert not EvalSpec.objects.exists()

    saved = client.post(
        reverse("evaluation:spec_create", args=[project.pk]),
        {"gates": json.dumps(gates), "layers": "{}", "cases": "[]", "note": "first"},
    )
    spec = EvalSpec.objects.get()
    assert saved.status_code == 302 and saved.url == reverse("evaluation:spec_detail", args=[spec.pk])
    page = client.get(saved.url).content.decode()
    assert "Not signed yet" in page and "Sign and lock" in page
    layers = page[page.index('data-testid="layers"') :]
    layers = layers[: layers.index("</dl>")]
    assert "The test split of" in layers and "The studio&#x27;s built-in probes." in layers
    assert "{&#x27;" not in layers and "data-confirm=" in page  # words, not a dump; signing asks first

    client.post(reverse("evaluation:spec_sign", args=[spec.pk]))
    spec.refresh_from_db()
    page = client.get(saved.url).content.decode()
    assert spec.is_signed and f"Signed by <strong>{product_owner.username}</strong>" in page
    assert "Sign and lock" not in page


def test_a_viewer_reads_but_cannot_sign_or_run(client, project, signed_spec, model_versions, viewer, owner):
    from evaluation import services

    draft = services.eval_spec_create(project=project, user=owner, document={})
    client.force_login(viewer)
    hub = client.get(reverse("evaluation:project_evaluation", args=[project.pk])).content.decode()
    assert "Run evaluation" not in hub and "New spec version" not in hub
    assert '<th scope="col">Macro-F1</th>' in hub and "macro_f1</th>" not in hub  # metrics by their names
    refused = client.post(reverse("evaluation:spec_sign", args=[draft.pk]), follow=True)
    assert "sign eval specs" in refused.content.decode()
    draft.refresh_from_db()
    assert not draft.is_signed
    run_url = reverse("evaluation:run_create", args=[project.pk])
    client.post(run_url, {"model_version": model_versions[1].pk, "spec": signed_spec.pk})
    assert not EvalRun.objects.exists()


def test_the_run_form_queues_a_run_and_its_page_follows_it(
    client, project, signed_spec, model_versions, product_owner
):
    client.force_login(product_owner)
    response = client.post(
        reverse("evaluation:run_create", args=[project.pk]),
        {"model_version": model_versions[1].pk, "spec": signed_spec.pk},
    )
    run = EvalRun.objects.get()
    assert response.url == reverse("evaluation:run_detail", args=[run.pk])
    page = client.get(response.url).content.decode()
    assert "data-live-run" in page and "Cancel the run" in page


def test_a_finished_run_shows_gates_charts_with_tables_and_filtered_results(client, project, runs, owner):  # noqa: F811
    _, after = runs
    after.coverage_curve = [{"threshold": 0.5, "coverage": 1.0, "accuracy": 0.75, "count": 4}]
    after.reliability = [{"lower": 0.5, "upper": 0.6, "count": 4, "accuracy": 0.75, "mean_confidence": 0.55}]
    after.layer_metrics = {"regression": {"labels": ["a", "b"], "confusion_matrix": [[1, 0], [1, 2]]}}
    after.gate_report = {
        "passed": True,
        "verdicts": [
            {
                "gate": {"metric": "accuracy"},
                "passed": True,
                "slice": "all",
                "reason": "0.75 >= 0.7",
                "value": 0.75,
            }
        ],
    }
    after.save()
    client.force_login(owner)
    url = reverse("evaluation:run_detail", args=[after.pk])
    page = client.get(url).content.decode()
    for chart in ("coverage-curve", "reliability", "confusion"):
        assert f'id="{chart}"' in page
    assert page.count("Table view") == 2 and "0.75 &gt;= 0.7" in page
    assert page.count("studio-heat-4") == 1  # the confusion matrix shades its largest cell
    wrong = client.get(url, {"correct": "no"}).content.decode()
    assert "return order 9" in wrong and "invoice charge 101" not in wrong


def test_compare_shows_flips_and_the_release_diff_downloads(client, model_versions, runs, owner):  # noqa: F811
    _, tuned = model_versions
    client.force_login(owner)
    page = client.get(reverse("evaluation:compare", args=[tuned.pk])).content.decode()
    broken = page[page.index('data-testid="flips-broken"') : page.index('data-testid="flips-fixed"')]
    fixed = page[page.index('data-testid="flips-fixed"') :]
    assert "return order 9" in broken and "parcel 7 lost" not in broken
    assert "parcel 7 lost" in fixed.split("Lineage diff")[0]
    download = client.get(
        reverse("evaluation:release_diff", args=[tuned.pk]), {"against": model_versions[0].pk}
    )
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content.decode().startswith("# Release diff: v2")


def test_compare_without_runs_says_what_to_do(client, model_versions, signed_spec, owner):
    """The way out is a button that evaluates the version without a run (the form starts on it)."""
    baseline, tuned = model_versions[0], model_versions[1]
    client.force_login(owner)
    page = client.get(reverse("evaluation:compare", args=[tuned.pk])).content.decode()
    evaluate = reverse("evaluation:project_evaluation", args=[tuned.project_id])
    assert "Nothing to compare yet" in page and f"Evaluate v{baseline.number}" in page
    assert f'href="{evaluate}?version={baseline.pk}"' in page
    assert "Request promotion" not in page  # a request needs the evidence first
    form = client.get(f"{evaluate}?version={baseline.pk}").context["run_form"]
    assert form["model_version"].value() == baseline.pk


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _ten_more_versions_with_runs(like, spec, owner) -> None:
    from training.models import ModelVersion

    for number in range(3, 13):
        version = ModelVersion.objects.create(
            project=like.project,
            number=number,
            kind="fine_tuned",
            base_model=like.base_model,
            storage_name=f"v{number}",
            created_by=owner,
        )
        _run(
            version,
            spec,
            ["shipping"] * 4,
            {"all": {"accuracy": 0.5, "count": 4}, "label:x": {"accuracy": 1}},
            False,
        )


def test_the_leaderboard_queries_do_not_grow_with_versions_and_results(
    client, project, model_versions, signed_spec, owner
):

    client.force_login(owner)
    url = reverse("evaluation:project_evaluation", args=[project.pk])

    _run(model_versions[1], signed_spec, ["billing"] * 4, {"all": {"accuracy": 0.5, "count": 4}}, True)
    few = _queries(client, url)
    _ten_more_versions_with_runs(model_versions[1], signed_spec, owner)
    assert _queries(client, url) <= few


def test_the_compare_page_lists_the_first_50_flips_and_links_to_the_rest(
    client, model_versions, signed_spec, owner
):
    """A large eval set can flip thousands of cases: the page stays light and says where the rest are."""
    from django.utils import timezone

    from evaluation.models import EvalResult

    def run_of(version, right: bool):
        run = EvalRun.objects.create(
            project=version.project,
            spec=signed_spec,
            model_version=version,
            created_by=owner,
            status="succeeded",
            finished_at=timezone.now(),
            metrics={"all": {"accuracy": 1.0 if right else 0.0, "count": 70}},
            gates_passed=right,
            gate_report={"passed": right, "verdicts": []},
        )
        EvalResult.objects.bulk_create(
            EvalResult(
                run=run,
                index=i,
                case_key=f"k{i}",
                layer="regression",
                input=f"case {i}",
                expected="billing",
                output="billing" if right else "shipping",
                correct=right,
                slices="|all|",
            )
            for i in range(70)
        )
        return run

    baseline, tuned = model_versions
    run_of(baseline, right=True)
    broken_run = run_of(tuned, right=False)
    client.force_login(owner)
    page = client.get(reverse("evaluation:compare", args=[tuned.pk])).content.decode()
    broken = page[page.index('data-testid="flips-broken"') : page.index('data-testid="flips-fixed"')]
    assert "right before, wrong now (70)" in broken
    assert broken.count('class="text-danger"') == 50
    more_url = reverse("evaluation:run_detail", args=[broken_run.pk]) + "?correct=no"
    assert 'data-testid="flips-broken-more"' in broken and more_url in broken
    assert 'data-testid="flips-fixed-more"' not in page


def test_the_compare_page_queries_do_not_grow_with_flips_versions_or_results(
    client,
    model_versions,
    runs,  # noqa: F811
    signed_spec,
    owner,
):
    from evaluation.models import EvalResult

    tuned = model_versions[1]
    client.force_login(owner)
    url = reverse("evaluation:compare", args=[tuned.pk])

    few = _queries(client, url)
    before, after = runs
    for run, output in ((before, "billing"), (after, "shipping")):  # 200 more cases, each one a flip
        EvalResult.objects.bulk_create(
            EvalResult(
                run=run,
                index=100 + i,
                case_key=f"extra{i}",
                layer="regression",
                input=f"extra case {i}",
                expected="billing",
                output=output,
                correct=output == "billing",
                slices="|all|label:billing|",
            )
            for i in range(200)
        )
    _ten_more_versions_with_runs(tuned, signed_spec, owner)
    assert "right before, wrong now" in client.get(url).content.decode()
    assert _queries(client, url) <= few


def test_the_spec_form_says_which_charter_measures_made_no_gate_and_why(client, project, product_owner):
    charter = project.charters.get()
    charter.success_measures = [
        {"metric": "routing accuracy", "baseline": 0.5, "target": 80, "higher_is_better": True},
        {"metric": "accuracy", "baseline": 0.5, "target": 80, "higher_is_better": True},
    ]
    charter.save(update_fields=["success_measures"])
    client.force_login(product_owner)
    form = client.get(reverse("evaluation:spec_create", args=[project.pk]))
    gates = json.loads(form.context["form"]["gates"].value())
    assert [(g["metric"], g["threshold"]) for g in gates] == [("accuracy", 0.8)]  # 80 read as 80 %
    note = form.content.decode()
    note = note[note.index('data-testid="unmeasured-measures"') :]
    note = note[: note.index("</div>")]
    assert "routing accuracy is not a metric the studio measures" in note
    assert "accuracy, macro_f1" in note
