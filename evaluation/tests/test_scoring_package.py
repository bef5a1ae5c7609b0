"""The scoring package is Django-free and torch-free, so workers and scripts load it without either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("assessment", "calibration", "classification", "extraction", "gates", "generation", "operational")
MODULES += ("probes",)
MODULES += ("slices", "stress")


def test_every_scoring_module_imports_without_django_or_torch():
    code = (
        "import importlib, sys;"
        f"[importlib.import_module('evaluation.scoring.' + name) for name in {MODULES!r}];"
        "heavy = {'django', 'torch', 'transformers', 'peft'};"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & heavy);"
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.stem for p in (ROOT / "evaluation" / "scoring").glob("*.py")) == sorted(
        [*MODULES, "__init__", "values"]
    )
