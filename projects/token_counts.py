"""Token counts in the default base model's tokenizer, for dataset statistics and context checks.

Reads the tokenizer file that the training worker writes into the model cache when it first converts
the base model; uses only the `tokenizers` library (no torch). Until that cache exists, lengths are
reported in characters and the statistics say so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

DEFAULT_BASE_MODEL_KEY = "smollm2-135m-instruct"


@dataclass(frozen=True)
class TokenCounting:
    counter: Callable[[list[str]], list[int]] | None
    context_length: int | None
    tokenizer_name: str


@lru_cache(maxsize=4)
def _load(tokenizer_path: str, mtime: float):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.no_truncation()

    def count(texts: list[str]) -> list[int]:
        return [
            len(encoding.ids) for encoding in tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        ]

    return count


def default_token_counting() -> TokenCounting:
    folder = Path(settings.MODEL_CACHE_DIR) / DEFAULT_BASE_MODEL_KEY
    tokenizer_file = folder / "tokenizer.json"
    if not tokenizer_file.exists():
        return TokenCounting(counter=None, context_length=None, tokenizer_name="")
    context_length = None
    config_file = folder / "config.json"
    if config_file.exists():
        context_length = json.loads(config_file.read_text()).get("max_position_embeddings")
    counter = _load(str(tokenizer_file), tokenizer_file.stat().st_mtime)
    return TokenCounting(
        counter=counter, context_length=context_length, tokenizer_name="SmolLM2-135M-Instruct"
    )
