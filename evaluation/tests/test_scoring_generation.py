"""Generation metrics: ROUGE-L by hand, sacrebleu's chrF/BLEU at their ends, the spec's rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evaluation.scoring.generation import GenerationRules, generation_scores


def test_rouge_l_is_the_mean_lcs_f_measure():
    scores = generation_scores(
        ["the quick brown fox jumps", "Grüße aus München"],
        ["The brown fox leaps", "grüße aus Berlin"],
    )
    # LCS "the brown fox": P 3/4, R 3/5; "grüße aus": P 2/3, R 2/3 (non-ASCII words count)
    first = 2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5)
    assert scores.examples[0].rouge_l == pytest.approx(first)
    assert scores.examples[1].rouge_l == pytest.approx(2 / 3)
    assert scores.rouge_l == pytest.approx((first + 2 / 3) / 2)


def test_chrf_and_bleu_are_100_for_a_perfect_answer_and_0_for_an_unrelated_one():
    reference = ["the parcel will arrive on Monday morning"]
    perfect = generation_scores(reference, reference)
    assert (perfect.chrf, perfect.bleu, perfect.rouge_l) == pytest.approx((100.0, 100.0, 1.0))
    unrelated = generation_scores(reference, ["qqq zzz"])
    assert (unrelated.chrf, unrelated.bleu, unrelated.rouge_l) == (0.0, 0.0, 0.0)


def test_length_limits_required_and_forbidden_phrases():
    rules = GenerationRules(max_words=6, required_phrases=["Order"], forbidden_phrases=["guarantee"])
    scores = generation_scores(
        ["-"] * 3,
        [
            "Your order ships today.",
            "Your order ships today and we guarantee it.",
            "It ships today.",
        ],
        rules=rules,
    )
    assert [e.passes_rules for e in scores.examples] == [True, False, False]
    assert scores.examples[1].forbidden_found == ["guarantee"] and not scores.examples[1].within_length
    assert scores.examples[2].missing_phrases == ["Order"]
    assert scores.within_length_rate == pytest.approx(2 / 3)
    assert scores.required_phrases_rate == pytest.approx(2 / 3)
    assert scores.forbidden_free_rate == pytest.approx(2 / 3)
    assert scores.rules_pass_rate == pytest.approx(1 / 3)


def test_rules_are_validated_as_json_config():
    assert GenerationRules.model_validate({"max_chars": 280}).max_chars == 280
    with pytest.raises(ValidationError):
        GenerationRules.model_validate({"max_chars": 0})
    with pytest.raises(ValidationError):
        GenerationRules.model_validate({"max_lenght": 10})
