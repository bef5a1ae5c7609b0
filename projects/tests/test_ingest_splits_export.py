"""Deterministic, stratified, leak-free splits; contamination; safe CSV and JSONL export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter

import pytest

from projects.ingest.export import neutralise_cell, write_csv, write_jsonl
from projects.ingest.splits import contamination, split_rows


@pytest.fixture
def rows_file(tmp_path):
    def make(rows):
        path = tmp_path / "rows.jsonl"
        path.write_bytes(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
        return path

    return make


def labelled_rows(counts: dict[str, int]) -> list[dict]:
    return [
        {"input": f"{label} example {n}", "output": label}
        for label, count in counts.items()
        for n in range(count)
    ]


def test_same_file_and_seed_give_the_same_split(rows_file):
    path = rows_file(labelled_rows({"a": 40, "b": 30, "c": 5}))
    first = split_rows(path, seed=13, stratify_by_label=True)
    assert split_rows(path, seed=13, stratify_by_label=True) == first
    assert split_rows(path, seed=14, stratify_by_label=True) != first
    every = sorted(first["train"] + first["val"] + first["test"])
    assert every == list(range(75))


def test_stratified_split_puts_each_label_everywhere_it_can(rows_file):
    rows = labelled_rows({"big": 100, "mid": 20, "three": 3, "two": 2, "one": 1})
    split = split_rows(rows_file(rows), seed=1, stratify_by_label=True)
    labels = {name: Counter(rows[i]["output"] for i in indices) for name, indices in split.items()}
    for label in ("big", "mid", "three"):
        assert labels["train"][label] >= 1 and labels["val"][label] >= 1 and labels["test"][label] >= 1
    assert labels["train"]["big"] == 80 and labels["val"]["big"] == 10 and labels["test"]["big"] == 10
    assert labels["train"]["two"] == 1 and labels["test"]["two"] == 1
    assert labels["train"]["one"] == 1


def test_equal_inputs_stay_in_one_split(rows_file):
    rows = [
        {"input": f"text {n % 10}" if n < 40 else f"unique {n}", "output": "ab"[n % 2]} for n in range(100)
    ]
    rows.append({"input": "  TEXT 3 ", "output": "b"})
    split = split_rows(rows_file(rows), seed=5, ratios=(0.6, 0.2, 0.2), stratify_by_label=False)
    where = {index: name for name, indices in split.items() for index in indices}
    for group in range(10):
        members = [
            i for i, row in enumerate(rows) if " ".join(row["input"].lower().split()) == f"text {group}"
        ]
        assert len({where[i] for i in members}) == 1
    assert 50 <= len(split["train"]) <= 70


def test_ratios_are_validated(rows_file):
    with pytest.raises(ValueError):
        split_rows(
            rows_file(labelled_rows({"a": 3})), seed=1, ratios=(0.5, 0.1, 0.1), stratify_by_label=False
        )


def test_contamination_folds_case_and_whitespace():
    result = contamination(["Where is my parcel?", "reset password"], ["where  is MY parcel?", "new text"])
    assert result == {"count": 1, "test_size": 2, "sample": ["where  is MY parcel?"]}


def test_csv_export_neutralises_formulas():
    rows = [
        {"input": '=HYPERLINK("http://evil")', "output": "+1"},
        {"input": "-2+3", "output": "@SUM(A1)"},
        {"input": "\tcmd", "output": "\rx"},
        {"input": "plain, with comma\nand newline", "output": {"k": 1}},
    ]
    dest = io.BytesIO()
    assert write_csv(rows, dest) == 4
    data = dest.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    assert parsed[0] == ["input", "output"]
    assert parsed[1] == ['\'=HYPERLINK("http://evil")', "'+1"]
    assert parsed[2] == ["'-2+3", "'@SUM(A1)"]
    assert parsed[3] == ["'\tcmd", "'\rx"]
    assert parsed[4] == ["plain, with comma\nand newline", '{"k":1}']
    assert not dest.closed
    assert neutralise_cell("safe") == "safe"


def test_jsonl_export_returns_count_and_checksum():
    dest = io.BytesIO()
    count, digest = write_jsonl([{"input": "é", "output": "a"}], dest)
    assert count == 1
    assert dest.getvalue() == '{"input":"é","output":"a"}\n'.encode()
    assert digest == hashlib.sha256(dest.getvalue()).hexdigest()
