"""The leaderboard's charts: one bar per version, the quality/cost Pareto front, the slice heatmap, each
with its numbers as a table view; and the leaderboard page drawing them from the runs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from evaluation import charts
from evaluation.tests.test_comparisons import _run, runs  # noqa: F401 (fixture)


def test_the_pareto_front_keeps_only_versions_no_other_beats_on_both_quality_and_cost():
    points = [
        ("v1", 0.70, 0.010),
        ("v2", 0.80, 0.020),
        ("v3", 0.75, 0.030),
        ("v4", 0.90, 0.050),
        ("v5", None, 1),
    ]
    figure, table = charts.quality_cost_scatter(points, "accuracy")
    versions, front = figure["data"]
    assert list(versions["text"]) == ["v1", "v2", "v3", "v4"]  # v5 has no accuracy: not drawn
    assert list(front["x"]) == [0.010, 0.020, 0.050] and list(front["y"]) == [0.70, 0.80, 0.90]
    on_front = {row[0]: row[3] for row in table["rows"]}
    assert on_front == {"v1": "yes", "v2": "yes", "v3": "", "v4": "yes", "v5": ""}
    assert table["rows"][4][1] == "—"


def test_the_bars_and_the_heatmap_carry_their_numbers_as_tables():
    figure, table = charts.metric_bars([("v1", 0.5), ("v2", None)], "macro_f1")
    assert list(figure["data"][0]["x"]) == ["v1", "v2"]
    assert table == {"columns": ["Version", "macro_f1"], "rows": [["v1", "0.500"], ["v2", "—"]]}
    heat = charts.slice_heatmap(["v1", "v2"], ["label:a", "label:b"], [[1.0, 0.24], [None, 0.5]], "accuracy")
    assert heat["columns"] == ["Version", "label:a", "label:b"]
    assert [[cell["shade"] for cell in row[1:]] for row in heat["rows"]] == [[4, 1], [0, 2]]
    assert heat["rows"][1][1]["text"] == "—"


@pytest.mark.django_db
def test_the_leaderboard_draws_bars_pareto_and_heatmap_from_the_runs(client, project, runs, owner):  # noqa: F811
    before, after = runs
    before.cost = {"cost_per_1000_requests": 0.002}
    after.cost = {"cost_per_1000_requests": 0.004}
    before.save()
    after.save()
    client.force_login(owner)
    page = client.get(reverse("evaluation:project_evaluation", args=[project.pk]))
    html = page.content.decode()
    for chart in ("metric-bars", "quality-cost"):
        assert f'id="{chart}"' in html
    figures = {name: page.context["charts"][name][0] for name in ("bars", "scatter")}
    bars, scatter = figures["bars"]["data"][0], figures["scatter"]["data"][0]
    accuracy = {f"v{run.model_version.number}": run.metrics["all"]["accuracy"] for run in runs}
    assert dict(zip(bars["x"], bars["y"], strict=True)) == accuracy
    assert sorted(scatter["x"]) == [0.002, 0.004]
    assert html.count("Table view") >= 2  # each chart's numbers as a table
    assert "label:returns" in html  # the slice heatmap's column
