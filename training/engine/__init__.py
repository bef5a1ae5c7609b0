"""Django-free LoRA fine-tuning engine, imported only by training workers.

Nothing here imports Django; the web process never imports this package at start-up. The public
entry points are re-exported lazily so that ``import training.engine.config`` stays cheap.
"""

from training.engine.errors import (
    BaseModelInvalid,
    BaseModelUnavailable,
    EngineError,
    TrainingCancelled,
    TrainingFailed,
)

__all__ = [
    "BaseModelInvalid",
    "BaseModelUnavailable",
    "EngineError",
    "TrainingCancelled",
    "TrainingFailed",
]
