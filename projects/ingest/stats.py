"""Bounded-memory accumulators for dataset statistics.

Lengths go into a dense count array (exact below 65,536, which covers any realistic row) plus a
dict for the rare longer values. Duplicate and conflict detection keep three 8-byte hashes and a
line number per row (32 bytes a row: 3.2 MB for 100k rows) and are resolved with one sort at the end.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_DENSE = 1 << 16


class LengthStats:
    """min/mean/p50/p95/max and a fixed-bin histogram (edges + counts) of integer lengths."""

    def __init__(self) -> None:
        self.counts = [0] * _DENSE
        self.overflow: dict[int, int] = {}
        self.n = 0
        self.total = 0

    def add(self, value: int) -> None:
        if value < _DENSE:
            self.counts[value] += 1
        else:
            self.overflow[value] = self.overflow.get(value, 0) + 1

    def add_many(self, values: list[int]) -> None:
        counts = self.counts
        for value in values:
            if value < _DENSE:
                counts[value] += 1
            else:
                self.overflow[value] = self.overflow.get(value, 0) + 1

    def summary(self, bins: int = 30) -> dict[str, Any]:
        dense = np.asarray(self.counts, dtype=np.int64)
        values = np.nonzero(dense)[0]
        weights = dense[values]
        if self.overflow:
            extra = sorted(self.overflow.items())
            values = np.concatenate([values, np.array([v for v, _ in extra], dtype=np.int64)])
            weights = np.concatenate([weights, np.array([c for _, c in extra], dtype=np.int64)])
        n = int(weights.sum())
        if n == 0:
            return {"count": 0, "min": None, "mean": None, "p50": None, "p95": None, "max": None,
                    "histogram": {"edges": [], "counts": []}}  # fmt: skip
        cumulative = np.cumsum(weights)

        def quantile(q: float) -> int:
            return int(values[np.searchsorted(cumulative, math.ceil(q * n))])

        low, high = int(values[0]), int(values[-1])
        width = max(1, math.ceil((high - low + 1) / bins))
        edges = list(range(low, high + width + 1, width))
        counts, _ = np.histogram(values, bins=edges, weights=weights)
        return {
            "count": n,
            "min": low,
            "mean": round(float((values * weights).sum()) / n, 2),
            "p50": quantile(0.5),
            "p95": quantile(0.95),
            "max": high,
            "histogram": {"edges": edges, "counts": [int(c) for c in counts]},
        }


class RowHashes:
    """Per-row hashes of the exact input, the folded input and the output, for duplicates/conflicts.

    Python's str hash is 64-bit and stable within a process, which is all a single pass needs.
    """

    def __init__(self) -> None:
        self.exact = array("q")
        self.folded = array("q")
        self.output = array("q")
        self.lines = array("q")

    def add(self, exact: int, folded: int, output: int, line: int) -> None:
        self.exact.append(exact)
        self.folded.append(folded)
        self.output.append(output)
        self.lines.append(line)

    def duplicates(self, sample: int = 5) -> tuple[int, list[list[int]]]:
        """(rows that repeat an earlier row exactly, sample of [first line, repeat line])."""
        if not self.exact:
            return 0, []
        exact = np.frombuffer(self.exact, dtype=np.int64)
        output = np.frombuffer(self.output, dtype=np.int64)
        lines = np.frombuffer(self.lines, dtype=np.int64)
        order = np.lexsort((lines, output, exact))
        e, o = exact[order], output[order]
        same = np.zeros(len(order), dtype=bool)
        same[1:] = (e[1:] == e[:-1]) & (o[1:] == o[:-1])
        count = int(same.sum())
        repeats = np.nonzero(same)[0]
        # the first line of each run of equal rows precedes it in sorted order
        group_start = np.maximum.accumulate(np.where(~same, np.arange(len(order)), 0))
        pairs = sorted(
            [int(lines[order[group_start[i]]]), int(lines[order[i]])] for i in repeats[: sample * 20]
        )
        return count, pairs[:sample]

    def conflicts(self, sample: int = 5) -> tuple[int, list[list[int]]]:
        """(folded inputs seen with more than one distinct output, sample of their lines)."""
        if not self.folded:
            return 0, []
        folded = np.frombuffer(self.folded, dtype=np.int64)
        output = np.frombuffer(self.output, dtype=np.int64)
        lines = np.frombuffer(self.lines, dtype=np.int64)
        order = np.lexsort((lines, output, folded))
        f, o = folded[order], output[order]
        new_group = np.ones(len(order), dtype=bool)
        new_group[1:] = f[1:] != f[:-1]
        new_output = new_group.copy()
        new_output[1:] |= o[1:] != o[:-1]
        group_id = np.cumsum(new_group) - 1
        distinct = np.bincount(group_id, weights=new_output)
        conflicting = np.nonzero(distinct > 1)[0]
        samples: list[list[int]] = []
        starts = np.nonzero(new_group)[0]
        for gid in conflicting[: sample * 20]:
            start = starts[gid]
            end = starts[gid + 1] if gid + 1 < len(starts) else len(order)
            samples.append(sorted(int(lines[order[i]]) for i in range(start, min(end, start + 5))))
        samples.sort()
        return len(conflicting), samples[:sample]


@dataclass
class Tally:
    """What one pass has counted of the rows it accepted, for the whole-file checks and the statistics."""

    row_count: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    labels_overflow: bool = False
    hashes: RowHashes = field(default_factory=RowHashes)
    input_lengths: LengthStats = field(default_factory=LengthStats)
    output_lengths: LengthStats = field(default_factory=LengthStats)
    total_lengths: LengthStats = field(default_factory=LengthStats)
    too_long_count: int = 0
    too_long_sample: list[int] = field(default_factory=list)
    pii_counts: Counter[str] = field(default_factory=Counter)
    pii_rows: int = 0
    duplicates: int = 0
    conflicts: int = 0
