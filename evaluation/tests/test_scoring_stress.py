"""Stress cases: seeded, deterministic perturbations, each tagged; built-in out-of-domain inputs."""

from __future__ import annotations

import pytest

from evaluation.scoring.stress import (
    OUT_OF_DOMAIN_INPUTS,
    PERTURBATIONS,
    out_of_domain_cases,
    perturb,
    stress_cases,
)

INPUTS = [
    "My parcel arrived damaged and I would like a replacement please",
    "How do I change the e-mail address on my account?",
    "Cancel my subscription before the next billing date",
]


def test_the_same_seed_gives_the_same_cases_and_another_seed_other_cases():
    first = stress_cases(INPUTS, expected=["damage", "account", "cancel"], seed=7)
    assert first == stress_cases(INPUTS, expected=["damage", "account", "cancel"], seed=7)
    assert [c.input for c in first] != [c.input for c in stress_cases(INPUTS, seed=8)]


def test_a_case_does_not_depend_on_the_other_inputs_or_kinds_asked_for():
    alone = stress_cases(INPUTS[1:2], seed=3, kinds=["typos"])[0]
    together = [c for c in stress_cases(INPUTS, seed=3) if c.perturbation == "typos"]
    assert perturb(INPUTS[1], "typos", seed=3, index=0) == alone.input
    assert together[0].input == perturb(INPUTS[0], "typos", seed=3, index=0)


def test_every_case_is_tagged_with_its_perturbation_and_keeps_its_expected_answer():
    cases = stress_cases(INPUTS, expected=["damage", "account", "cancel"], seed=1)
    assert {c.perturbation for c in cases} == set(PERTURBATIONS)
    for case in cases:
        assert case.tags == [f"perturbation:{case.perturbation}"]
        assert case.expected == ["damage", "account", "cancel"][case.source_index]
        assert case.input != INPUTS[case.source_index]


@pytest.mark.parametrize("seed", range(5))
def test_what_each_perturbation_does(seed):
    text = INPUTS[0]
    words = text.split()
    typos = perturb(text, "typos", seed=seed).split()
    assert len(typos) == len(words) and typos != words
    assert perturb(text, "casing", seed=seed).casefold() == text.casefold()
    assert perturb(text, "whitespace", seed=seed).split() == words
    truncated = perturb(text, "truncation", seed=seed).split()
    assert 1 <= len(truncated) < len(words) and truncated == words[: len(truncated)]
    prefixed = perturb(text, "distracting_prefix", seed=seed)
    assert prefixed.endswith(text) and len(prefixed) > len(text)


def test_out_of_domain_cases_and_unknown_kinds():
    cases = out_of_domain_cases()
    assert [c.input for c in cases] == list(OUT_OF_DOMAIN_INPUTS)
    assert all(c.perturbation == "out_of_domain" and c.source_index is None for c in cases)
    with pytest.raises(ValueError, match="Unknown perturbation"):
        perturb("x", "shouting")
