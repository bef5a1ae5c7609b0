"""Stress cases: seeded perturbations of regression inputs, and built-in out-of-domain inputs.

Each perturbation of input i draws from its own generator seeded by (seed, i, kind), so a case is the
same whatever other inputs or kinds are asked for, on every machine and Python run. A perturbed case
keeps the expected answer of its source: a robust model answers the same.

- ``typos``: about one word in four (of three letters or more, at least one word) gets a typo: two
  neighbouring letters swapped, a letter dropped, or a letter doubled;
- ``casing``: all upper case, all lower case, or random case per letter;
- ``whitespace``: extra spaces between some words, plus leading and trailing spaces, tabs or newlines;
- ``truncation``: only the first 40-70 % of the words are kept (at least one);
- ``distracting_prefix``: an irrelevant sentence is put in front.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .values import AsDict

TYPOS, CASING, WHITESPACE, TRUNCATION, DISTRACTING_PREFIX = (
    "typos",
    "casing",
    "whitespace",
    "truncation",
    "distracting_prefix",
)
OUT_OF_DOMAIN = "out_of_domain"

DISTRACTING_PREFIXES = (
    "Quick note before my question: the weather has been lovely this week. ",
    "Sent from my phone, sorry for any typos. ",
    "FYI the office is closed on Monday for the holiday. Anyway, ",
    "Hi! I hope you're having a great day, I just got back from lunch. ",
    "Unrelated, but did you see the match last night? Incredible. So, ",
    "My colleague asked me to forward this, no idea what it's about. ",
)

OUT_OF_DOMAIN_INPUTS = (
    "What's the weather going to be like in Paris tomorrow?",
    "Write a haiku about autumn leaves.",
    "What is 17 multiplied by 23?",
    "asdkjh qwpoeiru zmxncbv",
    "Who won the football world cup in 2010?",
    "Translate 'good morning' into Japanese.",
    "Recommend a good science fiction novel.",
    "SELECT * FROM users WHERE 1=1;",
    "🙂🙂🙂",
    "Was ist die Hauptstadt von Kanada?",
    "How do I bake sourdough bread?",
    "?",
)


@dataclass(frozen=True)
class StressCase(AsDict):
    input: str
    perturbation: str
    source_index: int | None  # the regression input it came from; None for out-of-domain inputs
    expected: Any = None
    tags: list[str] = field(default_factory=list)


def _typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    eligible = [i for i, word in enumerate(words) if sum(c.isalpha() for c in word) >= 3]
    if not eligible:
        return text
    chosen = [i for i in eligible if rng.random() < 0.25] or [rng.choice(eligible)]
    for i in chosen:
        word = words[i]
        letters = [j for j, c in enumerate(word) if c.isalpha()]
        at = rng.choice(letters[:-1])
        kind = rng.choice(("swap", "drop", "double"))
        if kind == "swap":
            words[i] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        elif kind == "drop":
            words[i] = word[:at] + word[at + 1 :]
        else:
            words[i] = word[:at] + word[at] + word[at:]
    return " ".join(words)


def _casing(text: str, rng: random.Random) -> str:
    style = rng.choice(("upper", "lower", "random"))
    if style == "upper":
        return text.upper()
    if style == "lower":
        return text.lower()
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def _whitespace(text: str, rng: random.Random) -> str:
    words = text.split()
    spaced = "".join(
        word + (" " * rng.randint(2, 4) if rng.random() < 0.3 else " ") for word in words[:-1]
    ) + (words[-1] if words else "")
    return rng.choice((" ", "  ", "\t", "\n")) + spaced + rng.choice((" ", "  ", "\n", "\n\n", "\t"))


def _truncation(text: str, rng: random.Random) -> str:
    words = text.split()
    keep = max(1, math.ceil(len(words) * rng.uniform(0.4, 0.7)))
    return " ".join(words[:keep])


def _distracting_prefix(text: str, rng: random.Random) -> str:
    return rng.choice(DISTRACTING_PREFIXES) + text


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    TYPOS: _typos,
    CASING: _casing,
    WHITESPACE: _whitespace,
    TRUNCATION: _truncation,
    DISTRACTING_PREFIX: _distracting_prefix,
}


def perturb(text: str, kind: str, *, seed: int = 0, index: int = 0) -> str:
    """`text` perturbed by `kind`; the same (text, kind, seed, index) always gives the same result."""
    if kind not in PERTURBATIONS:
        raise ValueError(f"Unknown perturbation {kind!r}; choose from {', '.join(PERTURBATIONS)}.")
    return PERTURBATIONS[kind](text, random.Random(f"{seed}:{index}:{kind}"))


def stress_cases(
    inputs: Sequence[str],
    *,
    expected: Sequence[Any] | None = None,
    seed: int = 0,
    kinds: Sequence[str] = tuple(PERTURBATIONS),
) -> list[StressCase]:
    """One case per input and kind, tagged ``perturbation:<kind>``; unchanged results are dropped."""
    if expected is not None and len(expected) != len(inputs):
        raise ValueError("inputs and expected differ in length.")
    cases = []
    for index, text in enumerate(inputs):
        for kind in kinds:
            changed = perturb(text, kind, seed=seed, index=index)
            if changed != text:
                answer = expected[index] if expected is not None else None
                cases.append(StressCase(changed, kind, index, answer, [f"perturbation:{kind}"]))
    return cases


def out_of_domain_cases(inputs: Sequence[str] = OUT_OF_DOMAIN_INPUTS) -> list[StressCase]:
    """Inputs the task never covers: a model should answer them with low confidence, not certainty."""
    return [StressCase(text, OUT_OF_DOMAIN, None, None, [f"perturbation:{OUT_OF_DOMAIN}"]) for text in inputs]
