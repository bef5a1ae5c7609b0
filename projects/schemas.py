"""Pydantic models for the JSON documents this app stores (validated at the boundary, stored as dumps)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from projects.choices import DataClass

# Success measures are business numbers (rates, minutes, amounts); bounded so that every difference and
# ratio computed from them later stays finite.
SUCCESS_MEASURE_LIMIT = 1e12


class SuccessMeasure(BaseModel):
    """A metric the charter commits to: where it stands today and where it must get to."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=80)
    baseline: float = Field(ge=-SUCCESS_MEASURE_LIMIT, le=SUCCESS_MEASURE_LIMIT)
    target: float = Field(ge=-SUCCESS_MEASURE_LIMIT, le=SUCCESS_MEASURE_LIMIT)
    higher_is_better: bool = True

    @model_validator(mode="after")
    def target_beats_baseline(self) -> SuccessMeasure:
        better = self.target > self.baseline if self.higher_is_better else self.target < self.baseline
        if not better:
            direction = "above" if self.higher_is_better else "below"
            raise ValueError(f"the target of “{self.metric}” must be {direction} its baseline")
        return self


class CharterDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_classes: list[DataClass] = Field(min_length=1)
    success_measures: list[SuccessMeasure] = Field(min_length=1)
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)


class SplitRatios(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: float = Field(0.8, gt=0, lt=1)
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def sums_to_one(self) -> SplitRatios:
        if abs(self.train + self.val + self.test - 1) > 1e-6:
            raise ValueError("train, val and test must add up to 1")
        return self

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.train, self.val, self.test)
