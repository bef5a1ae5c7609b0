"""Slices: the named subsets of cases that every metric is also reported on.

Slice keys are plain strings, the same in results, gates and dashboards:

- ``all``: every case;
- ``label:<expected label>`` (classification);
- ``length:<bucket>``: input length bucket, e.g. ``length:tokens 17-64`` (see `LengthBuckets`);
- ``layer:<regression|stress|policy>``;
- ``tag:<tag>``: user tags on cases (a stress case carries ``perturbation:<kind>`` as a tag too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from .values import AsDict

ALL = "all"

Record = TypeVar("Record")
Value = TypeVar("Value")


@dataclass(frozen=True)
class LengthBuckets:
    """Named input-length buckets: with edges (16, 64, 256) in tokens, ``tokens <=16``,
    ``tokens 17-64``, ``tokens 65-256`` and ``tokens >256``."""

    unit: Literal["tokens", "chars"] = "tokens"
    edges: tuple[int, ...] = (16, 64, 256)

    def __post_init__(self) -> None:
        if not self.edges or list(self.edges) != sorted(set(self.edges)) or self.edges[0] < 0:
            raise ValueError("edges must be increasing non-negative integers.")

    def name(self, length: int) -> str:
        lower = 0
        for upper in self.edges:
            if length <= upper:
                return f"{self.unit} <={upper}" if lower == 0 else f"{self.unit} {lower}-{upper}"
            lower = upper + 1
        return f"{self.unit} >{self.edges[-1]}"

    def names(self) -> list[str]:
        """Every bucket name, shortest first (for tables and chart axes)."""
        return [self.name(edge) for edge in self.edges] + [self.name(self.edges[-1] + 1)]


def slice_keys(
    *,
    label: str | None = None,
    input_length: int | None = None,
    buckets: LengthBuckets | None = None,
    layer: str | None = None,
    tags: Iterable[str] = (),
) -> list[str]:
    """The slices one case belongs to, ``all`` first."""
    keys = [ALL]
    if label is not None:
        keys.append(f"label:{label}")
    if input_length is not None:
        keys.append(f"length:{(buckets or LengthBuckets()).name(input_length)}")
    if layer is not None:
        keys.append(f"layer:{layer}")
    keys.extend(f"tag:{tag}" for tag in dict.fromkeys(tags))
    return keys


@dataclass(frozen=True)
class SliceResult(AsDict, Generic[Value]):
    count: int
    value: Value | None = None


def by_slice(
    records: Sequence[Record],
    keys: Sequence[Sequence[str]],
    metric: Callable[[list[Record]], Value],
    *,
    min_count: int = 1,
) -> dict[str, SliceResult[Value]]:
    """`metric` applied to the records of each slice (`keys[i]` are the slices of `records[i]`).

    Slices with fewer than `min_count` records keep their count but get no value: a metric over two
    examples is noise, not evidence.
    """
    if len(records) != len(keys):
        raise ValueError("records and keys differ in length.")
    members: dict[str, list[Record]] = defaultdict(list)
    for record, record_keys in zip(records, keys, strict=True):
        for key in dict.fromkeys(record_keys):
            members[key].append(record)
    return {
        key: SliceResult(len(group), metric(group) if len(group) >= min_count else None)
        for key, group in members.items()
    }


def metric_table(results: Mapping[str, SliceResult[Mapping[str, float | None]]]) -> dict[str, dict]:
    """{slice: {metric: value, …, "count": n}}: the result set that gates read (see `gates`)."""
    return {key: {**(result.value or {}), "count": result.count} for key, result in results.items()}
