"""`stage_changed`: sent after the commit of every stage change, so serving can switch versions at once.

Arguments: `project`, `model_version`, `from_stage`, `to_stage`, `kind` (a `StageChangeKind`).
Receivers run after the transaction committed; an exception in one is logged, never undoes the change.
"""

from django.dispatch import Signal

stage_changed = Signal()
