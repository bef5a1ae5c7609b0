"""Django-free LoRA fine-tuning engine, imported only by training workers.

Nothing here imports Django; the web process never imports this package at start-up. The public
entry points are re-exported lazily so that ``import training.engine.config`` stays cheap.
"""

import os

# Idle OpenMP threads sleep instead of spinning on cores that other ML processes on the host need
# (read once, when torch loads its OpenMP runtime: this package is imported before torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
