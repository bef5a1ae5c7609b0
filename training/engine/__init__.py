"""Django-free LoRA fine-tuning engine, imported only by training workers.

Nothing here imports Django; the web process never imports this package at start-up. The public
entry points are re-exported lazily so that ``import training.engine.config`` stays cheap.
"""

from training.engine.cores import bound_openmp_spinning
from training.engine.errors import (
    BaseModelInvalid,
    BaseModelUnavailable,
    EngineError,
    TrainingCancelled,
    TrainingFailed,
)

# Idle OpenMP threads spin briefly, then sleep (read once, when torch loads its OpenMP runtime: this
# package is imported before torch, and neither module above imports it).
bound_openmp_spinning()

__all__ = [
    "BaseModelInvalid",
    "BaseModelUnavailable",
    "EngineError",
    "TrainingCancelled",
    "TrainingFailed",
]
