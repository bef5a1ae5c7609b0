"""Pydantic models for an eval spec's JSON documents (validated at the boundary, stored as dumps).

Gates come from `evaluation.scoring.gates`, probes from `evaluation.scoring.probes`, generation rules and
hardware prices from their scoring modules: one definition of each shape, shared with the workers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evaluation.scoring.gates import AnyGate
from evaluation.scoring.operational import HardwarePrice
from evaluation.scoring.probes import Probe
from evaluation.scoring.stress import PERTURBATIONS

MAX_CASES = 2000
MAX_TEXT = 4000
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")]


class Case(BaseModel):
    """A case the product owner wrote: an input, the expected answer (absent for messy inputs) and tags."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(min_length=1, max_length=MAX_TEXT)
    expected: Any = None
    tags: list[Tag] = Field(default_factory=list, max_length=10)


class RegressionLayer(BaseModel):
    """The test split of a dataset version and/or a golden set, plus the spec's own cases."""

    model_config = ConfigDict(extra="forbid")

    dataset_version: int | None = Field(
        default=None,
        ge=1,
        description="A training dataset version: its test split, and its validation "
        "split for fitting the confidence temperature.",
    )
    golden_dataset_version: int | None = Field(default=None, ge=1, description="A golden test set version.")
    max_examples: int | None = Field(default=None, ge=1, le=100_000)


class StressLayer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    perturbations: list[str] = Field(
        default_factory=lambda: list(PERTURBATIONS), max_length=len(PERTURBATIONS)
    )
    per_perturbation: int = Field(
        default=50, ge=1, le=10_000, description="Regression inputs perturbed per kind."
    )
    out_of_domain: bool = True
    messy_inputs: list[Case] = Field(default_factory=list, max_length=MAX_CASES)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def known_perturbations(self) -> StressLayer:
        unknown = [kind for kind in self.perturbations if kind not in PERTURBATIONS]
        if unknown:
            raise ValueError(f"unknown perturbation {unknown[0]!r}; choose from {', '.join(PERTURBATIONS)}")
        return self


class PolicyLayer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    built_in: bool = Field(default=True, description="Run the studio's built-in probe library.")
    probes: list[Probe] = Field(default_factory=list, max_length=500)


class Layers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regression: RegressionLayer = Field(default_factory=RegressionLayer)
    stress: StressLayer = Field(default_factory=StressLayer)
    policy: PolicyLayer = Field(default_factory=PolicyLayer)


class SpecSettings(BaseModel):
    """How results are costed and generated text is judged."""

    model_config = ConfigDict(extra="forbid")

    hardware_price: HardwarePrice = Field(
        default_factory=lambda: HardwarePrice(cpu_per_hour=0.10, gpu_per_hour=2.50)
    )
    generation_rules: dict = Field(default_factory=dict)
    max_new_tokens: int = Field(default=128, ge=1, le=1024)


class EvalSpecDocument(BaseModel):
    """Everything a spec version says, as the API takes it; `gates` None = pre-filled from the charter."""

    model_config = ConfigDict(extra="forbid")

    gates: list[AnyGate] | None = Field(default=None, max_length=100)
    layers: Layers = Field(default_factory=Layers)
    cases: list[Case] = Field(default_factory=list, max_length=MAX_CASES)
    settings: SpecSettings = Field(default_factory=SpecSettings)
