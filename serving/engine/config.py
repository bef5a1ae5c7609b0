"""Limits every backend enforces (validated once, when the inference process starts)."""

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EngineLimits(BaseModel):
    """How much work an engine takes on; memory stays flat because every count here is bounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Rows decoded together in one forward pass (and the largest classification batch).
    max_batch_size: int = Field(default=16, ge=1, le=256)
    # Requests admitted but waiting for a row; one more raises Overloaded (HTTP 503 + Retry-After).
    max_queue: int = Field(default=64, ge=0, le=10_000)
    max_input_tokens: int = Field(default=2048, ge=1)
    max_tokens_cap: int = Field(default=512, ge=1)
    default_max_tokens: int = Field(default=256, ge=1)
    retry_after_seconds: int = Field(default=1, ge=1, le=3600)
    # Padded prompt tokens prefilled in one forward pass (bounds the attention's memory).
    max_prefill_tokens: int = Field(default=8192, ge=1)
    # Label continuations scored in one forward pass (each holds a copy of its prompt's KV cache).
    label_rows_per_forward: int = Field(default=64, ge=1, le=4096)
    # Labels scored in full per input: the others' first token already makes them far less likely.
    label_shortlist: int = Field(default=24, ge=1)

    @model_validator(mode="after")
    def _default_within_cap(self):
        if self.default_max_tokens > self.max_tokens_cap:
            raise ValueError("default_max_tokens must not exceed max_tokens_cap")
        return self
