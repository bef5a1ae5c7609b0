"""Batched label scoring: every label's log-probability for many inputs at once, with a temperature.

A label's score is the summed log-probability of its answer tokens (label + end-of-turn) after the prompt,
exactly what ``inference.score_labels`` computes one text at a time; the label distribution is the
softmax of the scores divided by the temperature. Three things make it fast:

- the prompt prefix every input shares (the chat template's system turn) runs once per batch;
- all labels are scored together by *tree attention*: the label answers' token trie is flattened into one
  sequence per input, each trie node attending to the prompt and to its own ancestors only, so a prefix
  shared by several labels ("card" in card_declined and card_query) runs once, in one forward pass;
- labels whose first token the model finds negligible are not scored at all (``tolerance``). The first
  token's probability bounds the probability of every label that starts with it, so an input is scored
  on the likeliest first tokens only while the mass left out is provably within ``tolerance`` of the
  label mass scored; where the first choice falls short (the labels' later tokens hold less than their
  first token promised), the next likeliest groups are scored on the same prompt pass until it holds.
"""

import copy
import math
from dataclasses import dataclass

import torch

from training.engine.data import PromptFormat
from training.engine.inference import DEFAULT_TOLERANCE, _autocast, _cache_in, _cache_out

_LOGIT_CHUNK = 256  # positions whose full-vocabulary log-softmax is held in memory at once
_TREE_CHUNK = 128  # trie nodes one tree-attention pass scores per row (see _tree_chunks)
_FIRST_GROUP_RATIO = 20  # best_labels scores first the groups within this factor of the likeliest


@dataclass(frozen=True)
class LabelScores:
    """One input's answer: the likeliest label, its probability and every label's log-probability.

    ``log_probs`` follows the scorer's label order and is normalised over the labels (after the
    temperature). A label left unscored by the tolerance holds ``-inf``; ``unscored_mass`` bounds the
    probability all such labels could have had together (0.0 when every label was scored).
    """

    label: str
    confidence: float
    log_probs: tuple[float, ...]
    unscored_mass: float


class LabelTree:
    """The label answers' token trie, flattened into nodes for tree attention.

    Node ``n`` stands for a proper prefix of at least one label answer and holds that prefix's last
    token; its logits give the next token of every label passing through it. An edge is one token of a
    label answer after its parent node (``-1`` = the prompt itself); a label's score is the sum of the
    log-probabilities of its edges.
    """

    def __init__(self, sequences: dict[str, list[int]]):
        if not sequences or any(not ids for ids in sequences.values()):
            raise ValueError("every label needs at least one answer token")
        self.labels = list(sequences)
        node_of: dict[tuple[int, ...], int] = {}
        edge_of: dict[tuple[int, int], int] = {}
        node_tokens, node_parents, node_depths = [], [], []
        edge_parents, edge_tokens, paths = [], [], []
        for ids in sequences.values():
            path, parent = [], -1
            for depth, token in enumerate(ids):
                edge = edge_of.setdefault((parent, token), len(edge_tokens))
                if edge == len(edge_tokens):
                    edge_parents.append(parent)
                    edge_tokens.append(token)
                path.append(edge)
                if depth + 1 < len(ids):
                    prefix = tuple(ids[: depth + 1])
                    if prefix not in node_of:
                        node_of[prefix] = len(node_tokens)
                        node_tokens.append(token)
                        node_parents.append(parent)
                        node_depths.append(depth + 1)
                    parent = node_of[prefix]
            paths.append(path)
        count = len(node_tokens)
        self.node_tokens = torch.tensor(node_tokens, dtype=torch.long)
        self.node_depths = torch.tensor(node_depths, dtype=torch.long)
        # ancestors[i, j]: node i may attend to node j (j is i or one of its ancestors).
        self.ancestors = torch.eye(count, dtype=torch.bool)
        for node, parent in enumerate(node_parents):  # parents are numbered before their children
            if parent >= 0:
                self.ancestors[node] |= self.ancestors[parent]
        self.edge_parents = torch.tensor(edge_parents, dtype=torch.long)
        self.edge_tokens = torch.tensor(edge_tokens, dtype=torch.long)
        width = max(len(path) for path in paths)
        self.label_edges = torch.tensor([path + [-1] * (width - len(path)) for path in paths])
        first_tokens = sorted({ids[0] for ids in sequences.values()})
        self.first_tokens = torch.tensor(first_tokens, dtype=torch.long)
        index = {token: i for i, token in enumerate(first_tokens)}
        self.label_first = torch.tensor([index[ids[0]] for ids in sequences.values()])
        # Which first-token group each node belongs to (the first token of the prefix it stands for).
        self.node_first = torch.tensor([index[prefix[0]] for prefix in node_of])
        self.labels_per_first = torch.bincount(self.label_first, minlength=len(first_tokens))
        self.nodes_per_first = torch.bincount(self.node_first, minlength=len(first_tokens)).tolist()

    def __len__(self) -> int:
        return len(self.node_tokens)


@torch.no_grad()
def score_label_batch(
    model,
    fmt: PromptFormat,
    texts: list[str],
    tree: LabelTree,
    *,
    temperature: float = 1.0,
    tolerance: float = DEFAULT_TOLERANCE,
    batch_size: int = 16,
) -> list[LabelScores]:
    """Every label's log-probability for each text, batched (see the module docstring).

    ``temperature`` divides the label scores before the softmax (calibration; fitted elsewhere).
    ``tolerance`` bounds every reported probability's distance from the exact one (the share of the
    tempered label mass that may be left unscored); 0 scores every label of every input.
    """
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    if not tolerance >= 0:
        raise ValueError("tolerance must not be negative")
    device = next(model.parameters()).device
    prompts = [fmt.prompt_ids(text) for text in texts]
    results: list[LabelScores] = [None] * len(texts)  # type: ignore[list-item]  # every row is filled
    for indices in _length_sorted_batches(list(range(len(texts))), prompts, batch_size):
        batch = [prompts[index] for index in indices]
        scored = _score_batch(model, batch, tree, device, temperature, tolerance)
        for index, result in zip(indices, scored, strict=True):
            results[index] = result
    return results


@torch.no_grad()
def best_labels(
    model,
    fmt: PromptFormat,
    texts: list[str],
    tree: LabelTree,
    *,
    batch_size: int = 16,
    first_groups: int = 8,
) -> list[str]:
    """Each text's likeliest label, exactly as full scoring would pick it, scoring few labels.

    A label's log-probability is at most its first token's, so once the best label scored beats the
    first token of every group left out, nothing left out can beat it. Each batch scores its rows'
    ``first_groups`` likeliest first-token groups, then, for the rows that need it, every other group
    whose first token beats the best label so far. Of the ``first_groups`` likeliest, only those whose
    first token is at least 1/``_FIRST_GROUP_RATIO`` as likely as the top one are scored first: a
    fine-tuned model sure of its answer scores one or two groups (96 CLINC150 rows: 6.8 s where eight
    groups each took 11.5 s), a prompted base model unsure among 151 labels scores a few groups instead
    of the whole tree (what a report that needs only the answer pays).
    """
    device = next(model.parameters()).device
    prompts = [fmt.prompt_ids(text) for text in texts]
    answers: list[str] = [""] * len(texts)
    for indices in _length_sorted_batches(list(range(len(texts))), prompts, batch_size):
        prompt = _run_prompts(model, [prompts[index] for index in indices], device)
        bound = prompt.first[:, tree.first_tokens]
        likeliest, top = bound.topk(min(first_groups, bound.shape[1]), dim=1)
        near = likeliest >= likeliest[:, :1] - math.log(_FIRST_GROUP_RATIO)
        selected = torch.zeros_like(bound, dtype=torch.bool).scatter_(1, top, near)
        scores = _label_scores(model, prompt, tree, selected, device)
        beaten = (bound > scores.max(1, keepdim=True).values) & ~selected
        if beaten.any():
            scores = torch.maximum(scores, _label_scores(model, prompt, tree, beaten, device))
        for index, best in zip(indices, scores.argmax(1).tolist(), strict=True):
            answers[index] = tree.labels[best]
    return answers


def _length_sorted_batches(indices: list[int], prompts: list[list[int]], batch_size: int):
    order = sorted(indices, key=lambda index: -len(prompts[index]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _shared_prefix(prompts: list[list[int]]) -> list[int]:
    """The longest token prefix of every prompt that leaves each at least one token of its own."""
    limit = min(len(prompt) for prompt in prompts) - 1
    first = prompts[0]
    length = 0
    while length < limit and all(prompt[length] == first[length] for prompt in prompts):
        length += 1
    return first[:length]


def _additive(allowed: torch.Tensor) -> torch.Tensor:
    """A boolean (rows, query, key) attention pattern as the 4D additive mask all attention backends take."""
    mask = torch.zeros(allowed.shape, dtype=torch.float32)
    mask.masked_fill_(~allowed, torch.finfo(torch.float32).min)
    return mask[:, None]


@dataclass
class _PromptPass:
    """Each row's next-token log-probabilities after its prompt, and the cache and layout that gave them."""

    first: torch.Tensor  # (rows, vocabulary) log-probabilities, on the CPU
    cache: object
    shared: int  # prompt tokens every row shares, run once
    real: torch.Tensor  # (rows, width) the rows' own prompt tokens, left-padded to one width

    def select(self, rows: list[int], device) -> "_PromptPass":
        """These rows, on a cache of their own (a tree pass extends the cache it is given)."""
        cache = _fork(self.cache)
        if rows != list(range(len(self.real))):
            cache.batch_select_indices(torch.tensor(rows, device=device))
        return _PromptPass(first=self.first[rows], cache=cache, shared=self.shared, real=self.real[rows])


def _fork(cache):
    """A cache object of its own over the same tensors, where that is safe, else a deep copy.

    A dynamic cache layer grows by concatenation into new tensors and selects rows by indexing into new
    tensors, so new layer objects over the same tensors leave the original untouched without copying it.
    The deep copy it replaces copied every row's prompt cache for every tree pass: with the 811-token
    prompt of a prompted baseline, a fifth of its label scoring (``torch.profiler``, 16 CLINC150 rows).
    """
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return copy.deepcopy(cache)
    fork = copy.copy(cache)
    fork.layers = [copy.copy(layer) for layer in layers]
    return fork


def _score_batch(
    model, prompts: list[list[int]], tree: LabelTree, device, temperature: float, tolerance: float
) -> list[LabelScores]:
    """Score one batch, each row until the mass it leaves unscored is provably within ``tolerance``.

    The first choice of groups assumes their labels hold what their first tokens promise. A row whose
    labels hold less (each later answer token keeps only part of the mass: a label-smoothed adapter keeps
    ~0.9 per token) then scores the next likeliest groups on the same prompt pass, as many as the mass
    already scored needs. Rescoring such a row on every label instead made a label-smoothed CLINC150
    adapter's full scoring 1.5x slower than no tolerance at all (106 of 128 rows rescored).
    """
    prompt = _run_prompts(model, prompts, device)
    # log of an upper bound on each first-token group's tempered label mass, sum(p(label) ** (1/T)):
    # p(label) <= p(first token), and for T > 1 the sum over n labels is at most n ** (1 - 1/T) times that.
    group_bound = prompt.first[:, tree.first_tokens] / temperature
    group_bound += max(0.0, 1.0 - 1.0 / temperature) * tree.labels_per_first.log()
    selected = _select_groups(group_bound, tolerance)
    scores = _label_scores(model, prompt, tree, selected, device) / temperature
    while True:
        scored_mass = torch.logsumexp(scores.double(), dim=1)
        more = _more_groups(group_bound, selected, scored_mass, tolerance)
        if not more.any():
            break
        # New groups' labels were -inf so far: the larger of the two is each label's only score.
        scores = torch.maximum(scores, _label_scores(model, prompt, tree, more, device) / temperature)
        selected |= more
    unscored_mass = torch.logsumexp(group_bound.double().masked_fill(selected, -math.inf), dim=1)
    log_probs = torch.log_softmax(scores, dim=1)
    results: list[LabelScores] = []
    for row in range(len(prompts)):
        best = int(log_probs[row].argmax())
        results.append(
            LabelScores(
                label=tree.labels[best],
                confidence=math.exp(log_probs[row, best].item()),
                log_probs=tuple(log_probs[row].tolist()),
                unscored_mass=torch.sigmoid(unscored_mass[row] - scored_mass[row]).item(),
            )
        )
    return results


def _run_prompts(model, prompts: list[list[int]], device) -> _PromptPass:
    """The shared prefix once, then every row's own prompt tokens (left-padded) on top of its cache."""
    rows = len(prompts)
    prefix = _shared_prefix(prompts)
    shared = len(prefix)
    own = [prompt[shared:] for prompt in prompts]
    width = max(len(ids) for ids in own)
    cache = None
    if shared:
        with _autocast(device):
            prefix_ids = torch.tensor([prefix], device=device)
            cache = _cache_out(model(input_ids=prefix_ids, use_cache=True, logits_to_keep=1))
        cache.batch_repeat_interleave(rows)
    input_ids = torch.zeros((rows, width), dtype=torch.long)
    real = torch.zeros((rows, width), dtype=torch.bool)
    for row, ids in enumerate(own):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        real[row, width - len(ids) :] = True
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    allowed = (causal & real[:, None, :]) | torch.eye(width, dtype=torch.bool)  # a pad sees itself
    allowed = torch.cat([torch.ones((rows, width, shared), dtype=torch.bool), allowed], 2)
    with _autocast(device):
        out = model(
            input_ids=input_ids.to(device),
            attention_mask=_additive(allowed).to(device),
            position_ids=(shared + real.cumsum(1) - 1).clamp(min=0).to(device),
            use_cache=True,
            logits_to_keep=1,
            **_cache_in(model, cache),
        )
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu()
    return _PromptPass(first=first, cache=_cache_out(out), shared=shared, real=real)


def _select_groups(group_bound: torch.Tensor, tolerance: float) -> torch.Tensor:
    """(rows, groups) True for the first-token groups to score: the likeliest, until the rest is small."""
    if tolerance == 0:
        return torch.ones_like(group_bound, dtype=torch.bool)
    ordered, order = group_bound.double().sort(dim=1, descending=True)
    weights = (ordered - ordered[:, :1]).exp()
    kept = weights.cumsum(1)
    enough = weights.sum(1, keepdim=True) - kept <= tolerance * kept
    enough[:, -1] = True  # keeping every group leaves no tail, whatever the rounding says
    count = enough.double().argmax(1) + 1  # the first position where the tail is small enough
    # An unsure row would keep most groups and probably fail the tail check: score it whole at once.
    count[count > order.shape[1] // 2] = order.shape[1]
    selected = torch.zeros_like(group_bound, dtype=torch.bool)
    selected.scatter_(1, order, torch.arange(order.shape[1]) < count[:, None])
    return selected


def _more_groups(
    group_bound: torch.Tensor, selected: torch.Tensor, scored_mass: torch.Tensor, tolerance: float
) -> torch.Tensor:
    """(rows, groups) the unselected groups, likeliest first, that each row must still score so that
    the bound on what it leaves unscored is within ``tolerance`` of the mass it has scored (new groups
    can only add to that mass); none for a row already within it."""
    if tolerance == 0:
        return ~selected
    ordered, order = group_bound.double().masked_fill(selected, -math.inf).sort(dim=1, descending=True)
    # left[:, j]: the bound on what stays unscored when the j likeliest unselected groups are added
    left = torch.cat([ordered.flip(1).logcumsumexp(1).flip(1), torch.full_like(ordered[:, :1], -math.inf)], 1)
    count = (left <= math.log(tolerance) + scored_mass[:, None]).double().argmax(1)  # the first that does
    more = torch.zeros_like(selected)
    more.scatter_(1, order, torch.arange(order.shape[1]) < count[:, None])
    return more & ~selected


def _label_scores(
    model, prompt: _PromptPass, tree: LabelTree, selected: torch.Tensor, device
) -> torch.Tensor:
    """(rows, labels) summed answer-token log-probabilities; -inf for labels of unselected groups."""
    edge_log = torch.full((len(selected), len(tree.edge_tokens)), -math.inf)
    roots = tree.edge_parents < 0
    edge_log[:, roots] = prompt.first[:, tree.edge_tokens[roots]]
    node_selected = selected[:, tree.node_first]
    passes = [
        (rows, nodes)
        for rows in _width_groups(node_selected.sum(1))
        for nodes in _tree_chunks(node_selected[rows], tree)
    ]
    for rows, nodes in passes:
        # A tree pass extends the cache it is given: each runs on a fork, the prompt's stays as it is.
        pair_rows, pair_edges, values = _tree_pass(model, prompt.select(rows, device), tree, nodes, device)
        edge_log[torch.tensor(rows)[pair_rows], pair_edges] = values
    steps = edge_log[:, tree.label_edges.clamp(min=0)].masked_fill(tree.label_edges < 0, 0.0)
    return steps.sum(2).masked_fill(~selected[:, tree.label_first], -math.inf)


def _width_groups(node_counts: torch.Tensor) -> list[list[int]]:
    """Rows in groups of similar tree width (each at most twice its narrowest, or 8 nodes), so that one
    unsure row, which needs most of the tree, does not widen every other row's pass."""
    groups: list[list[int]] = []
    for row in node_counts.argsort().tolist():
        if groups and node_counts[row] <= max(8, 2 * node_counts[groups[-1][0]]):
            groups[-1].append(row)
        else:
            groups.append([row])
    # Each group in row order: a lone group is the whole batch, run on the prompt pass as it stands.
    return [sorted(group) for group in groups]


def _tree_chunks(node_selected: torch.Tensor, tree: LabelTree) -> list[torch.Tensor]:
    """The rows' selected nodes as one pass, or, when a row selects more than ``_TREE_CHUNK`` nodes, in
    passes of whole first-token groups (a node's ancestors share its group) of about that many nodes.

    Every node of a pass attends to every other node's slot, masked or not: eager attention costs
    nodes x (prompt + nodes) per head, which for the whole CLINC150 tree (424 nodes) took half of a
    pass's time. Passes of ~128 nodes do the same matmuls on a third of the attention scores: 32 rows
    scored on every label took 18.8 s instead of 33.3 s (64 nodes: 21.0 s; 32: 21.4 s; bf16, 2 cores)."""
    if not node_selected.any():
        return []
    if int(node_selected.sum(1).max()) <= _TREE_CHUNK:
        return [node_selected]
    chunks, start, held = [], 0, 0
    for group, size in enumerate(tree.nodes_per_first):
        if held and held + size > _TREE_CHUNK:
            chunks.append((start, group))
            start, held = group, 0
        held += size
    chunks.append((start, len(tree.nodes_per_first)))
    passes = []
    for first, last in chunks:
        nodes = node_selected & (tree.node_first >= first) & (tree.node_first < last)
        if nodes.any():
            passes.append(nodes)
    return passes


def _tree_pass(model, prompt: _PromptPass, tree: LabelTree, node_selected: torch.Tensor, device):
    """One tree-attention forward pass over each row's selected trie nodes.

    Returns (row, edge, log-probability) for every label edge below a selected node: the probability of
    the edge's token at its parent node.
    """
    rows, width = prompt.real.shape
    tree_width = int(node_selected.sum(1).max())
    # Each row's selected trie nodes in slots; padding slots repeat node 0 and are never read.
    slot_nodes = torch.zeros((rows, tree_width), dtype=torch.long)
    slot_real = torch.zeros((rows, tree_width), dtype=torch.bool)
    slot_of = torch.full((rows, len(tree)), -1, dtype=torch.long)
    for row in range(rows):
        nodes = node_selected[row].nonzero().flatten()
        slot_nodes[row, : len(nodes)] = nodes
        slot_real[row, : len(nodes)] = True
        slot_of[row, nodes] = torch.arange(len(nodes))
    # A node attends to the prompt and to its ancestors; a padding slot to the prompt and itself.
    among_nodes = tree.ancestors[slot_nodes[:, :, None], slot_nodes[:, None, :]]
    among_nodes &= slot_real[:, :, None] & slot_real[:, None, :]
    among_nodes |= torch.eye(tree_width, dtype=torch.bool)
    allowed = torch.cat(
        [
            torch.ones((rows, tree_width, prompt.shared), dtype=torch.bool),
            prompt.real[:, None, :].expand(rows, tree_width, width),
            among_nodes,
        ],
        2,
    )
    last_prompt_position = prompt.shared + prompt.real.sum(1, keepdim=True) - 1
    decoder = model.get_decoder()
    with _autocast(device):
        hidden = decoder(
            input_ids=tree.node_tokens[slot_nodes].to(device),
            attention_mask=_additive(allowed).to(device),
            position_ids=(last_prompt_position + tree.node_depths[slot_nodes]).to(device),
            use_cache=True,
            **_cache_in(decoder, prompt.cache),
        ).last_hidden_state
    slots = slot_of[:, tree.edge_parents.clamp(min=0)]
    pair_rows, pair_edges = ((slots >= 0) & (tree.edge_parents >= 0)).nonzero(as_tuple=True)
    flat = torch.full((rows, tree_width), -1, dtype=torch.long)
    flat[slot_real] = torch.arange(int(slot_real.sum()))
    values = _token_log_probs(
        model,
        hidden[slot_real.to(device)],
        flat[pair_rows, slots[pair_rows, pair_edges]],
        tree.edge_tokens[pair_edges],
    )
    return pair_rows, pair_edges, values


def _token_log_probs(
    model, hidden: torch.Tensor, positions: torch.Tensor, tokens: torch.Tensor
) -> torch.Tensor:
    """log p(tokens[i] | hidden[positions[i]]), by a full-vocabulary log-softmax over chunks of positions."""
    head = model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    values = torch.empty(len(positions))
    for start in range(0, hidden.shape[0], _LOGIT_CHUNK):
        logits = head(hidden[start : start + _LOGIT_CHUNK]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        log_probs = torch.log_softmax(logits, dim=-1).cpu()
        inside = (positions >= start) & (positions < start + _LOGIT_CHUNK)
        values[inside] = log_probs[positions[inside] - start, tokens[inside]]
    return values
