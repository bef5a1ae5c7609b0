"""Imports point one way: studio → audit → projects → training → evaluation → governance → serving.

Every module of every app is read with `ast` (imports inside functions included): an app imports only
the apps to its left, `studio/` imports none outside its composition root, and the Django-free engine
packages import no Django at all. (That the web process never loads torch is `test_platform`'s.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["studio", "audit", "projects", "training", "evaluation", "governance", "serving"]
# The composition root wires every app together, so it may import them all.
COMPOSITION_ROOT = ("studio/urls.py", "studio/api/router.py", "studio/settings/", "studio/celery.py")
DJANGO_PACKAGES = {"django", "rest_framework", "django_filters", "drf_spectacular", "celery"}


def _modules(app: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / app).rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import in the module, wherever it sits."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _is_engine(parts: tuple[str, ...]) -> bool:
    return "engine" in parts[:-1] or parts[:2] == ("projects", "ingest")


def _engine_package(name: str) -> bool:
    parts = name.split(".")
    return "engine" in parts[1:] or parts[:2] == ["projects", "ingest"]


def _violations(app: str, root: Path = ROOT) -> list[str]:
    allowed = set(LAYERS[: LAYERS.index(app) + 1])
    found = []
    for path in _modules(app, root):
        where = path.relative_to(root).as_posix()
        if app == "studio" and where.startswith(COMPOSITION_ROOT):
            continue
        engine = _is_engine(path.relative_to(root).parts)
        for line, name in _imports(path):
            top = name.split(".")[0]
            if engine and (top in DJANGO_PACKAGES or (top in LAYERS and not _engine_package(name))):
                found.append(f"{where}:{line} imports {name} (engine packages are Django-free)")
            elif app == "studio" and top in LAYERS[1:]:
                found.append(f"{where}:{line} imports {name} (studio/ imports no app)")
            elif top in LAYERS and top not in allowed:
                found.append(
                    f"{where}:{line} imports {name} ({app} may import only {', '.join(sorted(allowed))})"
                )
    return found


@pytest.mark.parametrize("app", LAYERS)
def test_each_app_imports_only_the_apps_below_it(app):
    assert _modules(app), f"{app}/ has no modules: is the layer list current?"
    assert _violations(app) == []


def test_the_layer_list_names_every_app():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LAYERS)


def test_the_check_sees_imports_inside_functions_and_django_in_engines(tmp_path):
    module = tmp_path / "audit" / "late.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from projects.models import Team\n    import training.engine\n")
    engine = tmp_path / "training" / "engine" / "step.py"
    engine.parent.mkdir(parents=True)
    engine.write_text(
        "import torch\nfrom projects.ingest.export import read_jsonl\nfrom django.conf import settings\n"
    )
    assert _violations("training", tmp_path) == [
        "training/engine/step.py:3 imports django.conf (engine packages are Django-free)"
    ]
    assert _violations("audit", tmp_path) == [
        "audit/late.py:2 imports projects.models (audit may import only audit, studio)",
        "audit/late.py:3 imports training.engine (audit may import only audit, studio)",
    ]
