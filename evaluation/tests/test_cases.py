"""Which cases an eval run answers: the dataset version's test split, every row of an uploaded golden set
(tagged "golden"), the spec's own cases; and in the stress layer, the product owner's messy real inputs
(tagged "messy") next to the generated perturbations."""

from __future__ import annotations

import io
import json

import pytest

from evaluation import services
from evaluation.choices import Layer
from evaluation.execution import build_cases

pytestmark = pytest.mark.django_db

GOLDEN = [
    {"input": "The app charged my card twice for one subscription.", "output": "billing"},
    {"input": "Courier left my box at the wrong address.", "output": "shipping"},
    {"input": "Shoes too small, how do I return them?", "output": "returns"},
    {"input": "Why is there a second invoice this month?", "output": "billing"},
    {"input": "Tracking says delivered but nothing came.", "output": "shipping"},
    {"input": "Can I send back the blue jacket for a refund?", "output": "returns"},
]
MESSY = [
    {"input": "fwd: re: re: MONEY TAKEN TWICE!!! acct 55", "expected": "billing", "tags": ["email"]},
    {"input": "wheres my stuff", "expected": "shipping"},
]


def test_golden_rows_and_messy_inputs_are_cases_of_their_layers(
    project, dataset_version, model_versions, owner
):
    from projects import services as project_services
    from projects.choices import DatasetKind
    from projects.tests.factories import jsonl_bytes

    golden = project_services.dataset_upload(
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(GOLDEN)),
        filename="g.jsonl",
        name="Golden",
        kind=DatasetKind.GOLDEN,
    )
    spec = services.eval_spec_create(
        project=project,
        user=owner,
        document={
            "layers": {
                "regression": {"dataset_version": dataset_version.pk, "golden_dataset_version": golden.pk},
                "stress": {
                    "perturbations": ["casing"],
                    "per_perturbation": 2,
                    "out_of_domain": False,
                    "messy_inputs": MESSY,
                },
                "policy": {"enabled": False},
            },
            "cases": [{"input": "Refund the double charge please", "expected": "billing", "tags": ["vip"]}],
        },
    )
    spec = services.eval_spec_sign(spec=spec, user=owner)
    run = services.eval_run_create(user=owner, model_version=model_versions[1], spec=spec)

    cases, validation = build_cases(run)

    test_split = json.loads(dataset_version.splits_path.read_text())["test"]
    regression = [case for case in cases if case.layer == Layer.REGRESSION]
    golden_cases = [(case.input, case.expected) for case in regression if "golden" in case.tags]
    assert golden_cases == [(row["input"], row["output"]) for row in GOLDEN]  # every golden row, in order
    assert len(regression) == len(test_split) + len(GOLDEN) + 1
    assert [case.tags for case in regression if case.input.startswith("Refund")] == [["vip"]]
    assert len(validation) == len(json.loads(dataset_version.splits_path.read_text())["val"])

    stress = [case for case in cases if case.layer == Layer.STRESS]
    messy = [(case.input, case.expected, case.tags) for case in stress if "messy" in case.tags]
    assert messy == [
        (MESSY[0]["input"], "billing", ["messy", "email"]),
        (MESSY[1]["input"], "shipping", ["messy"]),
    ]
    assert len(stress) == 2 + len(MESSY)  # two casing perturbations and the messy inputs
    assert not [case for case in cases if case.layer == Layer.POLICY]
    assert len({case.key for case in cases}) == len(cases)
