"""Label scoring for many classification requests at once (the batched form of ``score_labels``).

All prompts run as one left-padded batch. A label's score is the sum of its answer tokens' log
probabilities: the first token's from the prompt's last logits; the rest by feeding each candidate's
answer after a copy of its prompt's KV cache, ``label_rows_per_forward`` candidates per forward pass so
that memory stays bounded. Only labels whose first token is among each prompt's ``shortlist`` likeliest
first tokens are scored in full (the others get probability 0, as in ``score_labels``).
"""

import torch

from serving.engine.embedded.kv import continue_rows, prefill
from serving.engine.embedded.runtime import ModelRuntime
from serving.engine.embedded.work import LabelWork


def _shortlist(sequences: dict[str, list[int]], first: torch.Tensor, size: int) -> list[str]:
    labels = list(sequences)
    if len(labels) <= size:
        return labels
    first_tokens = sorted({ids[0] for ids in sequences.values()}, key=lambda token: -float(first[token]))
    keep = set(first_tokens[:size])
    return [label for label in labels if sequences[label][0] in keep]


def score_label_batch(
    runtime: ModelRuntime, works: list[LabelWork], *, shortlist: int, rows_per_forward: int
) -> list[dict[str, float]]:
    """Each request's scored labels (its shortlist) with their summed answer-token log-probabilities."""
    batch, last_logits = prefill(
        runtime, [work.prompt_ids for work in works], [work.adapter for work in works]
    )
    first = torch.log_softmax(last_logits, dim=-1).cpu()
    scores: list[dict[str, float]] = []
    continuations: list[tuple[int, str, list[int]]] = []
    for index, work in enumerate(works):
        candidates = _shortlist(work.sequences, first[index], shortlist)
        scores.append({label: float(first[index, work.sequences[label][0]]) for label in candidates})
        continuations.extend(
            (index, label, work.sequences[label]) for label in candidates if len(work.sequences[label]) > 1
        )
    for start in range(0, len(continuations), rows_per_forward):
        part = continuations[start : start + rows_per_forward]
        copies = batch.gather([index for index, _, _ in part])
        feeds = [ids[:-1] for _, _, ids in part]
        logits = continue_rows(runtime, copies, feeds, [works[index].adapter for index, _, _ in part])
        log_probs = torch.log_softmax(logits, dim=-1).cpu()
        for row, (index, label, ids) in enumerate(part):
            targets = torch.tensor(ids[1:])
            scores[index][label] += float(log_probs[row, torch.arange(len(targets)), targets].sum())
    return scores
