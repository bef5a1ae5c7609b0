"""Errors the engine raises; the Django side maps them to job states and user-facing messages."""


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class BaseModelUnavailable(EngineError):
    """The base model's weights cannot be found on this machine."""


class BaseModelInvalid(EngineError):
    """A folder offered as a base model is not a usable Hugging Face-format causal LM."""


class TrainingCancelled(EngineError):
    """The reporter asked the run to stop; raised within one optimizer step of the request."""


class TrainingFailed(EngineError):
    """A known failure, with a plain reason for the user and a hint on what to change."""

    def __init__(self, reason_plain: str, hint: str = ""):
        super().__init__(reason_plain if not hint else f"{reason_plain} ({hint})")
        self.reason_plain = reason_plain
        self.hint = hint


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA and CPU allocator failures (torch raises several types for these)."""
    if isinstance(error, MemoryError):
        return True
    name = type(error).__name__
    if name == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )
