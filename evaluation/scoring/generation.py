"""Generation metrics: ROUGE-L (`rouge-score`), chrF and BLEU (`sacrebleu`), and the spec's rules:
length limits, required phrases and forbidden phrases.

ROUGE-L is the mean over examples of the LCS F-measure, on a 0-1 scale. Its tokens are Unicode words
(lower-cased `\\w+` runs, no stemming) rather than rouge-score's default ASCII-only tokenizer, which
drops every non-Latin letter ("für" becomes "f r"). chrF and BLEU are sacrebleu's corpus scores on
sacrebleu's 0-100 scale; per example, `chrf` is sacrebleu's sentence chrF.

Rules: lengths count characters of the stripped output and whitespace-separated words; phrases match
case-insensitively (casefold) as substrings. An example passes the rules when it is within the length
limits, contains every required phrase and none of the forbidden ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sacrebleu
from pydantic import BaseModel, ConfigDict, Field
from rouge_score import rouge_scorer, tokenizers

from .values import AsDict, number, share

_WORD = re.compile(r"\w+")


class GenerationRules(BaseModel):
    """The eval spec's rules for generated text (all optional)."""

    model_config = ConfigDict(extra="forbid")

    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=1)
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=1)
    required_phrases: list[str] = Field(default_factory=list)
    forbidden_phrases: list[str] = Field(default_factory=list)


class _UnicodeWords(tokenizers.Tokenizer):
    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_UnicodeWords())


@dataclass(frozen=True)
class GenerationExample(AsDict):
    rouge_l: float
    chrf: float
    chars: int
    words: int
    within_length: bool
    missing_phrases: list[str]
    forbidden_found: list[str]
    passes_rules: bool


@dataclass(frozen=True)
class GenerationScores(AsDict):
    count: int
    rouge_l: float | None
    chrf: float | None
    bleu: float | None
    within_length_rate: float | None
    required_phrases_rate: float | None
    forbidden_free_rate: float | None
    rules_pass_rate: float | None
    examples: list[GenerationExample]

    def summary(self) -> dict[str, float | None]:
        return {
            "rouge_l": self.rouge_l,
            "chrf": self.chrf,
            "bleu": self.bleu,
            "within_length_rate": self.within_length_rate,
            "required_phrases_rate": self.required_phrases_rate,
            "forbidden_free_rate": self.forbidden_free_rate,
            "rules_pass_rate": self.rules_pass_rate,
        }


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def generation_example(reference: str, output: str, rules: GenerationRules) -> GenerationExample:
    text = output.strip()
    chars, words = len(text), len(text.split())
    folded = text.casefold()
    within_length = _within(chars, rules.min_chars, rules.max_chars) and _within(
        words, rules.min_words, rules.max_words
    )
    missing = [phrase for phrase in rules.required_phrases if phrase.casefold() not in folded]
    forbidden = [phrase for phrase in rules.forbidden_phrases if phrase.casefold() in folded]
    return GenerationExample(
        rouge_l=float(_ROUGE.score(reference, output)["rougeL"].fmeasure),
        chrf=float(sacrebleu.sentence_chrf(output, [reference]).score),
        chars=chars,
        words=words,
        within_length=within_length,
        missing_phrases=missing,
        forbidden_found=forbidden,
        passes_rules=within_length and not missing and not forbidden,
    )


def generation_scores(
    references: Sequence[str], outputs: Sequence[str], *, rules: GenerationRules | None = None
) -> GenerationScores:
    if len(references) != len(outputs):
        raise ValueError("references and outputs differ in length.")
    rules = rules or GenerationRules()
    examples = [generation_example(r, o, rules) for r, o in zip(references, outputs, strict=True)]
    total = len(examples)
    if not total:
        return GenerationScores(0, None, None, None, None, None, None, None, [])
    return GenerationScores(
        count=total,
        rouge_l=number(sum(e.rouge_l for e in examples) / total),
        chrf=number(sacrebleu.corpus_chrf(list(outputs), [list(references)]).score),
        bleu=number(sacrebleu.corpus_bleu(list(outputs), [list(references)]).score),
        within_length_rate=share(sum(e.within_length for e in examples), total),
        required_phrases_rate=share(sum(not e.missing_phrases for e in examples), total),
        forbidden_free_rate=share(sum(not e.forbidden_found for e in examples), total),
        rules_pass_rate=share(sum(e.passes_rules for e in examples), total),
        examples=examples,
    )
