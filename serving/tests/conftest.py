"""Fixtures of the serving engine tests: a tiny random Llama and LoRA adapters saved like model versions.

The adapters are built with peft directly (random, non-zero LoRA weights, so each one answers
differently from the base model and from the others) and saved the way ``training.engine.runner``
saves a version: adapter, tokenizer and ``training_config.json`` naming the base model.
"""

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ANIMALS = ["cat", "dog", "bird"]


def save_version(folder: Path, base: Path, *, seed: int, config: dict, **lora) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.engine.base_models import load_tokenizer

    torch.manual_seed(seed)
    lora_config = LoraConfig(init_lora_weights=False, **{"r": 8, "target_modules": "all-linear", **lora})
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora_config)
    model.save_pretrained(folder)
    load_tokenizer(base).save_pretrained(folder)
    (folder / "training_config.json").write_text(json.dumps({**config, "base_model": {"path": str(base)}}))
    return folder


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    from training.engine.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="session")
def versions(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """Three versions of the tiny base: two generation adapters (different targets) and a classifier."""
    root = tmp_path_factory.mktemp("versions")
    greeter = {"task_type": "generation", "instructions": "Greet the user.", "labels": None}
    animals = {"task_type": "classification", "instructions": "Name the animal.", "labels": ANIMALS}
    return {
        "greeter": save_version(root / "greeter", tiny_base, seed=1, config=greeter),
        "animals": save_version(root / "animals", tiny_base, seed=2, config=animals),
        "echo": save_version(
            root / "echo",
            tiny_base,
            seed=3,
            config={**greeter, "instructions": ""},
            r=4,
            target_modules=["q_proj", "v_proj"],
        ),
    }


@pytest.fixture
def engine(versions, tiny_base):
    """An embedded engine serving the three versions and the bare base model (as ``base``)."""
    from serving.engine.embedded import EmbeddedEngine

    engine = EmbeddedEngine(device="cpu")
    for name, folder in versions.items():
        engine.load(name, folder)
    engine.load_base("base", tiny_base)
    yield engine
    engine.close(timeout=30)
