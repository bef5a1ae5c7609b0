"""A training batch as one row of tokens: the prompt prefix every example shares once, then each example's
own tokens, no padding, so every linear layer of the model runs one matrix product per pass.

The engine used to run the shared prefix (the chat template's system turn) as a pass of its own and hand
its key/value cache to the batch. A 19-token pass costs a 2-core CPU about what a few hundred tokens
cost, because a bf16 product of so few rows is dominated by repacking the weight: 38 % of a batch-8 step
of SmolLM2 (0.35 of 0.93 s). Packed, the prefix rides in the same products as the batch's tokens: a step
of batch 8 / 16 / 32 / 64 takes 17 / 17 / 13 / 8 % less time (``benchmarks/README.md``, "Packed batches").

Only attention sees the structure. ``prefix_rows_attention`` gathers each example's queries, keys and
values into a padded (rows, width) layout, puts the prefix's keys and values in front of every row's,
and runs the model's own kernel choice (eager or SDPA) on it; the prefix attends causally to itself.
So the maths is exactly that of every example run whole: each token sees the prefix and the tokens of
its own example before it, at the positions it would have there. Architectures whose attention needs
more than a mask and rotary positions (sliding windows, soft-capped scores, learned absolute positions)
are not packed; the runner runs their examples whole.
"""

from dataclasses import dataclass, field

import torch

from training.engine.data import IGNORE_INDEX, Example

ATTENTION_NAME = "studio_prefix_rows"

# Rotary-position decoders whose attention is a plain mask over (query, key) scores.
PACKABLE_ARCHITECTURES = frozenset(
    {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM"}
)


def packable(config, max_length: int) -> bool:
    """Whether this model's attention is exactly what ``prefix_rows_attention`` computes."""
    architectures = getattr(config, "architectures", None) or []
    window = getattr(config, "sliding_window", None)
    return (
        bool(architectures)
        and architectures[0] in PACKABLE_ARCHITECTURES
        and not getattr(config, "attn_logit_softcapping", None)
        and not getattr(config, "final_logit_softcapping", None)
        and (window is None or window >= max_length)
    )


@dataclass
class RowLayout:
    """Where each example's tokens sit in the packed row, and what each of them may attend to."""

    prefix_length: int
    index: torch.Tensor  # (rows, width): the packed position of each example's token; padding points at 0
    tokens: torch.Tensor  # the real tokens' places in the flattened (rows x width) layout, in packed order
    allowed: torch.Tensor  # (rows, 1, width, prefix + width): True where a query may see a key
    _blocked: dict = field(default_factory=dict, repr=False)

    def blocked(self, groups: int) -> torch.Tensor:
        """Where an example's query may not look, for ``groups`` query heads folded onto each key/value head
        (made once per count: every layer uses it)."""
        if groups not in self._blocked:
            self._blocked[groups] = ~self.allowed.repeat(1, 1, groups, 1)
        return self._blocked[groups]

    def prefix_blocked(self, groups: int) -> torch.Tensor:
        """The same for the prefix's queries: each sees the prefix up to itself."""
        key = ("prefix", groups)
        if key not in self._blocked:
            size = self.prefix_length
            later = torch.ones((size, size), dtype=torch.bool, device=self.allowed.device).triu(1)
            self._blocked[key] = later.repeat(groups, 1)[None, None]
        return self._blocked[key]

    def to(self, device) -> "RowLayout":
        return RowLayout(
            self.prefix_length, self.index.to(device), self.tokens.to(device), self.allowed.to(device)
        )


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # (1, tokens)
    position_ids: torch.Tensor  # (1, tokens): each token's position in its own example, prefix first
    targets: torch.Tensor  # (1, tokens): the next token of the same example where it is an answer token
    sequence_lengths: torch.Tensor  # (1, tokens, 1): the length of the pass each token belongs to (NEFTune)
    layout: RowLayout
    real_tokens: int  # the examples' own tokens (the prefix not counted)
    answer_tokens: int

    def to(self, device) -> "PackedBatch":
        return PackedBatch(
            self.input_ids.to(device),
            self.position_ids.to(device),
            self.targets.to(device),
            self.sequence_lengths.to(device),
            self.layout.to(device),
            self.real_tokens,
            self.answer_tokens,
        )


def pack(examples: list[Example], prefix: list[int]) -> PackedBatch:
    """The prefix, then every example's tokens (each example already without the prefix)."""
    prefix_length = len(prefix)
    ids, positions, targets = list(prefix), list(range(prefix_length)), [IGNORE_INDEX] * prefix_length
    lengths = [prefix_length] * prefix_length
    width = max(len(example) for example in examples)
    index = torch.zeros((len(examples), width), dtype=torch.long)
    valid = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, example in enumerate(examples):
        length = len(example)
        index[row, :length] = torch.arange(len(ids), len(ids) + length)
        valid[row, :length] = True
        ids += example.input_ids
        positions += range(prefix_length, prefix_length + length)
        targets += [*example.labels[1:], IGNORE_INDEX]  # a token predicts the next one of its own example
        lengths += [length] * length

    causal = torch.ones((width, width), dtype=torch.bool).tril()
    own = causal & valid[:, None, :]
    own |= ~valid[:, :, None] & torch.eye(width, dtype=torch.bool)  # padding sees itself: no empty row
    allowed = torch.cat([torch.ones((len(examples), width, prefix_length), dtype=torch.bool), own], dim=2)
    return PackedBatch(
        input_ids=torch.tensor([ids]),
        position_ids=torch.tensor([positions]),
        targets=torch.tensor([targets]),
        sequence_lengths=torch.tensor(lengths, dtype=torch.float32).view(1, -1, 1),
        layout=RowLayout(prefix_length, index, valid.view(-1).nonzero().view(-1), allowed[:, None]),
        real_tokens=sum(len(example) for example in examples),
        answer_tokens=sum(example.answer_tokens for example in examples),
    )


def prefix_rows_attention(module, query, key, value, attention_mask, *, scaling, dropout=0.0, **kwargs):
    """Attention over a packed row (``query``: (1, heads, tokens, dim)); the transformers attention
    interface, registered under ``ATTENTION_NAME``. ``kwargs`` carry ``packed_layout`` and ``row_kernel``
    ("eager" or "sdpa": the kernel the model would use unpacked)."""
    layout: RowLayout = kwargs["packed_layout"]
    kernel = _eager if kwargs["row_kernel"] == "eager" else _sdpa
    prefix = layout.prefix_length
    rows, width = layout.index.shape
    q, k, v = query[0], key[0], value[0]  # (heads, tokens, dim)

    def rows_of(states):  # (heads, tokens, dim) -> (rows, heads, width, dim)
        gathered = states.index_select(1, layout.index.view(-1))
        return gathered.view(states.shape[0], rows, width, -1).transpose(0, 1)

    row_keys, row_values = rows_of(k), rows_of(v)
    if prefix:
        row_keys = torch.cat([k[None, :, :prefix].expand(rows, -1, -1, -1), row_keys], dim=2)
        row_values = torch.cat([v[None, :, :prefix].expand(rows, -1, -1, -1), row_values], dim=2)
    out = kernel(module, rows_of(q), row_keys, row_values, layout.blocked, scaling, dropout)
    heads, dim = out.shape[1], out.shape[3]
    out = out.transpose(1, 2).reshape(rows * width, heads, dim).index_select(0, layout.tokens)
    if prefix:
        prefix_states = (query[:, :, :prefix], key[:, :, :prefix], value[:, :, :prefix])
        head = kernel(module, *prefix_states, layout.prefix_blocked, scaling, dropout)
        out = torch.cat([head.transpose(1, 2)[0], out])
    return out[None], None


def _eager(module, query, key, value, blocked, scaling, dropout):
    """transformers' eager attention (scores in the activations' dtype, softmax in fp32), with grouped
    queries folded onto their key/value head instead of the keys and values copied per query head."""
    rows, heads, length, dim = query.shape
    groups = heads // key.shape[1]
    query = query.reshape(rows, key.shape[1], groups * length, dim)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    scores = scores.masked_fill(blocked(groups), torch.finfo(scores.dtype).min)
    weights = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = torch.nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).view(rows, heads, length, dim)


def _sdpa(module, query, key, value, blocked, scaling, dropout):
    return torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=~blocked(1),
        dropout_p=dropout if module.training else 0.0,
        scale=scaling,
        enable_gqa=query.shape[1] != key.shape[1],
    )


def packed_hidden_states(decoder, inputs_embeds: torch.Tensor, batch: PackedBatch) -> torch.Tensor:
    """The decoder's last hidden states over a packed row: its attention layers run
    ``prefix_rows_attention`` around the kernel the model is set to use, for this pass only."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, prefix_rows_attention)  # idempotent
    config = decoder.config
    row_kernel = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        return decoder(
            inputs_embeds=inputs_embeds,
            position_ids=batch.position_ids,
            use_cache=False,
            packed_layout=batch.layout,
            row_kernel=row_kernel,
        ).last_hidden_state
    finally:
        config._attn_implementation = row_kernel
