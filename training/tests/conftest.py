"""Models the engine tests share, built once per session (Django-free: runs with ``-p no:django``).

``tiny_model`` is a tiny random Llama built in about a second; ``smollm2`` is the real SmolLM2, converted
once per session into a temporary cache (or ``STUDIO_MODEL_CACHE`` when set).
"""

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    configured = os.environ.get("STUDIO_MODEL_CACHE")
    return Path(configured) if configured else tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def smollm2(model_cache):
    """The converted SmolLM2 and the seconds the first ``ensure_cached`` took."""
    from training.engine.base_models import ensure_cached

    started = time.perf_counter()
    cached = ensure_cached(None, model_cache)
    return cached, time.perf_counter() - started
