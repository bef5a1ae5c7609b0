"""How the inference process runs: its backend, the engine's limits and its own bounds (validated once)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.engine.config import EngineLimits


class InferenceConfig(BaseModel):
    """Every count is bounded, so the process's memory does not grow with load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["embedded", "vllm"] = "embedded"
    vllm_url: str | None = None
    # Folders as this process sees them -> as the vLLM server sees them (shared volumes).
    vllm_path_map: dict[str, str] = Field(default_factory=dict)
    device: str | None = None
    limits: EngineLimits = Field(default_factory=EngineLimits)
    # Requests being answered at once (waiting for the engine included); one more gets 503.
    max_in_flight: int | None = Field(default=None, ge=1, le=10_000)
    # How often the endpoints' production versions are read from the database (a promotion shows
    # within this many seconds) and how long a key's check is trusted (a revocation shows within it).
    state_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    key_cache_seconds: float = Field(default=0.5, ge=0, le=1)
    key_cache_size: int = Field(default=10_000, ge=1)
    # Wrong keys one client address may present within the window before it must wait (429).
    failed_key_limit: int = Field(default=10, ge=1, le=10_000)
    failed_key_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    log_queue_size: int = Field(default=10_000, ge=1)
    shadow_queue_size: int = Field(default=16, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # HTTP requests open at once (reading their bodies included); one more gets 503 before its body
    # is read. None: twice the in-flight limit plus 64 (room for key checks and refusals).
    max_open_requests: int | None = Field(default=None, ge=1, le=100_000)
    shutdown_timeout_seconds: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _needs_vllm_url(self):
        if self.backend == "vllm" and not self.vllm_url:
            raise ValueError("the vllm backend needs vllm_url")
        return self

    @property
    def in_flight_limit(self) -> int:
        return self.max_in_flight or self.limits.max_batch_size + self.limits.max_queue

    @property
    def open_requests_limit(self) -> int:
        return self.max_open_requests or 2 * self.in_flight_limit + 64
