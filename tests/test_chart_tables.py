"""Every chart has its numbers as a table view: the figure's x/y traces make one when its page gives none."""

from __future__ import annotations

from django.template.loader import render_to_string

from projects.charts import label_distribution_figure, length_histogram_figure
from studio.charts import figure_table
from training.charts import loss_curves_figure


class Point:
    def __init__(self, step, train_loss=None, val_loss=None):
        self.step, self.train_loss, self.val_loss = step, train_loss, val_loss


def test_a_figure_becomes_a_table_with_a_row_per_x_and_a_column_per_trace():
    losses = loss_curves_figure([Point(1, 2.5), Point(2, 2.25, 2.4), Point(3, 2.0)])
    assert figure_table(losses.to_json()) == {
        "columns": ["Step", "Train loss", "Validation loss"],
        "rows": [["1", "2.5", ""], ["2", "2.25", "2.4"], ["3", "2", ""]],
    }
    histogram = length_histogram_figure({"histogram": {"edges": [1, 5, 9], "counts": [3, 4]}}, unit="words")
    assert figure_table(histogram)["rows"] == [["1 to 4", "3"], ["5 to 8", "4"]]  # a bin by its range
    assert figure_table({"data": [{"type": "heatmap", "z": [[1]]}]}) is None


def test_the_chart_include_folds_the_table_under_every_chart():
    labels = label_distribution_figure({"billing": 5, "shipping": 3}).to_json()
    html = render_to_string(
        "includes/plotly_chart.html",
        {"figure_json": labels, "chart_id": "labels", "chart_title": "Rows per label"},
    )
    assert "Table view: Rows per label" in html
    assert '<th scope="row">billing</th><td>5</td>' in html
    given = render_to_string(
        "includes/plotly_chart.html",
        {"figure_json": labels, "chart_id": "c", "table_view": {"columns": ["a", "b"], "rows": [["x", "1"]]}},
    )
    assert given.count("Table view") == 1 and '<th scope="row">x</th><td>1</td>' in given
