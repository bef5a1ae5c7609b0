"""Atomic training checkpoints: trainable weights, optimizer, scheduler, RNG states and data position."""

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

WEIGHTS_FILE = "trainable.safetensors"
STATE_FILE = "trainer_state.pt"
PREFIX = "step-"
KEEP_LAST = 2


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {
        name: parameter.detach().to("cpu", copy=True).contiguous()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }


def load_trainable_state(model, state: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    missing = [name for name in state if name not in parameters]
    if missing:
        raise KeyError(f"checkpoint holds unknown parameters: {missing[:3]}")
    with torch.no_grad():
        for name, tensor in state.items():
            parameters[name].copy_(tensor.to(parameters[name].device, parameters[name].dtype))


def rng_states() -> dict:
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _step_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    complete = [
        path
        for path in root.iterdir()
        if path.is_dir() and path.name.startswith(PREFIX) and (path / STATE_FILE).is_file()
    ]
    return sorted(complete, key=lambda path: int(path.name[len(PREFIX) :]))


def latest_checkpoint(root: Path) -> Path | None:
    dirs = _step_dirs(Path(root))
    return dirs[-1] if dirs else None


def save_checkpoint(root: Path, *, step: int, model, optimizer, scheduler, state: dict) -> Path:
    """Write ``root/step-N`` through a temporary folder and a rename; keep the newest KEEP_LAST."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:07d}"
    staging = root / f".tmp-{PREFIX}{step:07d}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    save_file(trainable_state(model), str(staging / WEIGHTS_FILE))
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_states(),
            **state,
        },
        staging / STATE_FILE,
    )
    for file in staging.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    for old in _step_dirs(root)[:-KEEP_LAST]:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in root.glob(".tmp-*"):
        if leftover != staging:
            shutil.rmtree(leftover, ignore_errors=True)
    return final


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(trainable weights, trainer state). The files are this engine's own, so full unpickling is safe."""
    weights = load_file(str(Path(path) / WEIGHTS_FILE))
    state = torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=False)
    return weights, state
