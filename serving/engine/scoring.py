"""Label scores to the answer of a classification request (shared by every backend)."""

import math

from serving.engine.protocol import Classification


def classification(
    scores: dict[str, float], sequences: dict[str, list[int]], *, temperature: float, prompt_tokens: int
) -> Classification:
    """Softmax of the scored labels' summed log-probabilities / ``temperature``; unscored labels get 0.

    ``sequences`` holds each label's answer tokens, in the labels' order. Always answers one of the labels
    (the first of equally likely ones); its answer tokens are the completion's, as if it had been generated.
    """
    labels = list(sequences)
    top = max(scores.values())
    weights = {label: math.exp((score - top) / temperature) for label, score in scores.items()}
    total = sum(weights.values())
    probabilities = {label: weights.get(label, 0.0) / total for label in labels}
    label = max(labels, key=lambda name: probabilities[name])
    return Classification(label, probabilities[label], probabilities, prompt_tokens, len(sequences[label]))
