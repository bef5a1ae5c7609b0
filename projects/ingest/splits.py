"""Deterministic train/val/test splits and train-test contamination checks.

Rows are split by *input group*: rows whose inputs are equal after case/whitespace folding always
land in the same split, so a split never leaks an input into another. With `stratify_by_label`,
groups are stratified by the label of their first row. Within each stratum the groups are shuffled
by a RNG seeded with (seed, label) and cut by the ratios; a stratum of at least 3 groups always
puts at least one group in train and, where the ratio is non-zero, one in val and one in test;
2 groups go to train and test; 1 group goes to train. Same file + same seed: same split.
Indices are 0-based positions of rows in the normalised rows file (blank lines skipped).
"""

from __future__ import annotations

import hashlib
import json
import math
from array import array
from collections.abc import Iterable
from os import PathLike
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


def fold_text(text: str) -> str:
    """Case- and whitespace-folded text, for comparing inputs."""
    return " ".join(text.casefold().split())


def _allocate(count: int, ratios: tuple[float, float, float]) -> tuple[int, int, int]:
    _, val_r, test_r = ratios
    if count == 1:
        return 1, 0, 0
    if count == 2:
        return (1, 0, 1) if test_r > 0 else (1, 1, 0) if val_r > 0 else (2, 0, 0)
    n_val = max(1, round(count * val_r)) if val_r > 0 else 0
    n_test = max(1, round(count * test_r)) if test_r > 0 else 0
    while count - n_val - n_test < 1:  # keep at least one group for training
        if n_val >= n_test and n_val > 0:
            n_val -= 1
        else:
            n_test -= 1
    return count - n_val - n_test, n_val, n_test


def _group_hash(text: str, seed: int) -> int:
    digest = hashlib.blake2b(fold_text(text).encode(), digest_size=8, key=str(seed).encode()[:64]).digest()
    return int.from_bytes(digest, "little")


def split_rows(
    rows_path: str | PathLike[str],
    *,
    seed: int,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    stratify_by_label: bool,
) -> dict[str, list[int]]:
    """{"train": [...], "val": [...], "test": [...]} of 0-based row indices, each list sorted.

    Rows whose folded inputs are equal form one group and land in one split; a group's stratum is the
    label of its first row. Within a stratum, groups are ordered by a seeded 64-bit hash of their
    input and cut by `_allocate`. The pass keeps 12 bytes per row in flat arrays (no per-row Python
    objects), so memory stays small for large files.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise ValueError("ratios must be three non-negative numbers that sum to 1.")
    hashes = array("Q")
    label_ids = array("I")
    label_index: dict[str, int] = {}
    with open(rows_path, "rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            row = json.loads(raw)
            hashes.append(_group_hash(row["input"], seed))
            label = str(row.get("output", "")) if stratify_by_label else ""
            label_ids.append(label_index.setdefault(label, len(label_index)))
    count = len(hashes)
    result: dict[str, list[int]] = {name: [] for name in SPLITS}
    if not count:
        return result
    row_hash = np.frombuffer(hashes, dtype=np.uint64)
    row_label = np.frombuffer(label_ids, dtype=np.uint32)
    # Groups: runs of equal hash once rows are ordered by (hash, file position).
    order = np.lexsort((np.arange(count), row_hash))
    starts = np.flatnonzero(np.r_[True, row_hash[order][1:] != row_hash[order][:-1]])
    group_of_row = np.empty(count, dtype=np.int64)
    group_of_row[order] = np.cumsum(np.r_[True, row_hash[order][1:] != row_hash[order][:-1]]) - 1
    group_hash = row_hash[order][starts]
    group_label = row_label[order][starts]  # the first row in file order of each group
    group_split = np.zeros(len(starts), dtype=np.int8)
    names = sorted(label_index, key=label_index.get)
    for label_id in sorted(range(len(names)), key=lambda i: names[i]):
        members = np.flatnonzero(group_label == label_id)
        if not len(members):
            continue
        members = members[np.argsort(group_hash[members], kind="stable")]
        n_train, n_val, _ = _allocate(len(members), ratios)
        group_split[members[n_train : n_train + n_val]] = 1
        group_split[members[n_train + n_val :]] = 2
    row_split = group_split[group_of_row]
    for code, name in enumerate(SPLITS):
        result[name] = np.flatnonzero(row_split == code).tolist()
    return result


def contamination(
    train_inputs_iter: Iterable[str], test_inputs_iter: Iterable[str], *, sample: int = 5
) -> dict[str, Any]:
    """How many test inputs also occur in train after case/whitespace folding.

    Returns {"count": n, "test_size": m, "sample": [up to `sample` test inputs, 200 chars each]}.
    Train inputs are held as a sorted array of 64-bit digests (8 bytes each).
    """
    seen = np.sort(np.fromiter((_group_hash(text, 0) for text in train_inputs_iter), dtype=np.uint64))
    count = 0
    total = 0
    examples: list[str] = []
    for text in test_inputs_iter:
        total += 1
        digest = np.uint64(_group_hash(text, 0))
        position = int(np.searchsorted(seen, digest))
        if position < len(seen) and seen[position] == digest:
            count += 1
            if len(examples) < sample:
                examples.append(text[:200])
    return {"count": count, "test_size": total, "sample": examples}
