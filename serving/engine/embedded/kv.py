"""Rows of a batch and their KV cache: prefill, join (left padding), leave, and copies for label scoring.

Every row is left-padded: its real tokens end at the last column, earlier columns are masked out.
Positions are counted per row (pads excluded), so a row's keys are the same whichever batch it joins,
and a newcomer merged into a running batch decodes exactly as it would alone.
"""

import torch

from serving.engine.embedded.runtime import ModelRuntime

_PAD_ID = 0  # any id: padded positions are masked out of attention


def _pad_left(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


class KVBatch:
    """A KV cache with, per row, its attention mask and the position of the next token it feeds."""

    def __init__(self, cache, attention_mask: torch.Tensor, positions: torch.Tensor):
        self.cache = cache
        self.attention_mask = attention_mask
        self.positions = positions

    def __len__(self) -> int:
        return self.attention_mask.shape[0]

    @property
    def width(self) -> int:
        return self.attention_mask.shape[1]

    def extend(self, other: "KVBatch") -> None:
        """Append ``other``'s rows, left-padding whichever cache is shorter to the longer one."""
        width = max(self.width, other.width)
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, width, 2), _pad_left(theirs.keys, width, 2)])
            mine.values = torch.cat([_pad_left(mine.values, width, 2), _pad_left(theirs.values, width, 2)])
        self.attention_mask = torch.cat(
            [_pad_left(self.attention_mask, width, 1), _pad_left(other.attention_mask, width, 1)]
        )
        self.positions = torch.cat([self.positions, other.positions])

    def keep(self, rows: list[int]) -> None:
        """Drop every other row, then the leading columns that are padding in all remaining rows."""
        index = torch.tensor(rows, dtype=torch.long, device=self.attention_mask.device)
        mask = self.attention_mask.index_select(0, index)
        used = mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else mask.shape[1]
        cache_index = index.to(self.cache.layers[0].keys.device)
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, cache_index)[:, :, start:]
            layer.values = layer.values.index_select(0, cache_index)[:, :, start:]
        self.attention_mask = mask[:, start:]
        self.positions = self.positions.index_select(0, index)

    def gather(self, rows: list[int]) -> "KVBatch":
        """A new batch holding copies of ``rows`` (a row may repeat), this one left untouched."""
        from transformers.cache_utils import DynamicCache

        index = torch.tensor(rows, dtype=torch.long, device=self.attention_mask.device)
        cache = DynamicCache()
        cache_index = index.to(self.cache.layers[0].keys.device)
        for number, layer in enumerate(self.cache.layers):
            cache.update(
                layer.keys.index_select(0, cache_index), layer.values.index_select(0, cache_index), number
            )
        return KVBatch(
            cache, self.attention_mask.index_select(0, index), self.positions.index_select(0, index)
        )


def prefill(
    runtime: ModelRuntime, prompts: list[list[int]], adapters: list[str]
) -> tuple[KVBatch, torch.Tensor]:
    """Run the prompts as one left-padded batch: their KV batch and each one's next-token logits."""
    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), _PAD_ID, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention_mask[row, width - len(ids) :] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits, cache = runtime.forward(input_ids, attention_mask, position_ids, None, adapters)
    attention_mask = attention_mask.to(runtime.device)
    return KVBatch(cache, attention_mask, attention_mask.sum(-1)), logits[:, -1]


def decode_step(
    runtime: ModelRuntime, batch: KVBatch, tokens: list[int], adapters: list[str]
) -> torch.Tensor:
    """Feed one token per row; the cache grows by one column. Returns the next-token logits."""
    batch.attention_mask = torch.cat(
        [batch.attention_mask, batch.attention_mask.new_ones((len(batch), 1))], 1
    )
    input_ids = torch.tensor(tokens, dtype=torch.long)[:, None]
    logits, batch.cache = runtime.forward(
        input_ids, batch.attention_mask, batch.positions[:, None], batch.cache, adapters
    )
    batch.positions = batch.positions + 1
    return logits[:, -1]


def continue_rows(
    runtime: ModelRuntime, batch: KVBatch, feeds: list[list[int]], adapters: list[str]
) -> torch.Tensor:
    """Feed each row its own short token sequence (right-padded) at once: logits at every fed position.

    Right padding needs no mask: causal attention never lets a real token see a later pad.
    """
    width = max(len(ids) for ids in feeds)
    input_ids = torch.full((len(feeds), width), _PAD_ID, dtype=torch.long)
    for row, ids in enumerate(feeds):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones((len(feeds), width))], 1)
    offsets = torch.arange(width, device=batch.positions.device)
    logits, _ = runtime.forward(
        input_ids, mask, batch.positions[:, None] + offsets, batch.cache, adapters, logits_to_keep=0
    )
    return logits
