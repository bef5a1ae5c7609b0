"""The next token of every row: constraint masks, then greedy argmax or temperature / top-p sampling."""

import math

import torch

from serving.engine.protocol import Constraint


def constrain(logits: torch.Tensor, constraints: list[Constraint | None]) -> list[int]:
    """Mask each row's disallowed tokens in place; returns the rows whose constraint allows nothing."""
    stuck = []
    for row, constraint in enumerate(constraints):
        if constraint is None:
            continue
        allowed = constraint.allowed_token_mask(logits.shape[-1])
        if allowed is None:
            continue
        allowed = allowed.to(logits.device)
        if not bool(allowed.any()):
            stuck.append(row)
            continue
        logits[row].masked_fill_(~allowed, -math.inf)
    return stuck


def sample(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """One token from softmax(logits / temperature), restricted to the smallest set holding ``top_p``."""
    probabilities = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probabilities, order = probabilities.sort(descending=True)
        before = sorted_probabilities.cumsum(-1) - sorted_probabilities
        sorted_probabilities[before >= top_p] = 0.0
        probabilities = torch.zeros_like(probabilities).scatter_(-1, order, sorted_probabilities)
    return int(torch.multinomial(probabilities.cpu(), 1, generator=generator))


def choose(
    logits: torch.Tensor,
    temperatures: list[float],
    top_ps: list[float],
    generators: list[torch.Generator | None],
) -> list[int]:
    """Greedy rows (temperature 0) take the argmax; the others sample with their own generator."""
    tokens = logits.argmax(-1).tolist()
    for row, temperature in enumerate(temperatures):
        if temperature > 0:
            tokens[row] = sample(logits[row], temperature, top_ps[row], generators[row])
    return tokens
