"""A model version's artifacts folder, read and checked before any backend touches it.

The folder is what ``training.engine.runner`` saves: a PEFT LoRA adapter (or, for full fine-tuning, a
whole model) with its tokenizer and ``training_config.json``, which names the base model it was trained
on. Versions of one base model share one tokenizer in memory (same files, same object).
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from serving.engine.errors import AdapterLoadFailed
from serving.engine.prompts import PromptBuilder, SharedTokenizer
from serving.engine.protocol import AdapterInfo
from training.engine.inference import TRAINING_CONFIG_FILE

ADAPTER_CONFIG_FILE = "adapter_config.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)


@dataclass(frozen=True)
class VersionFiles:
    """Where a loadable version's weights are: ``kind`` lora (adapter on ``base_path``), full or base."""

    kind: str
    path: Path | None
    base_path: Path
    training_config: dict

    @property
    def tokenizer_dir(self) -> Path:
        return self.path if self.path is not None else self.base_path

    def info(self, name: str) -> AdapterInfo:
        labels = self.training_config.get("labels")
        return AdapterInfo(
            name=name,
            kind=self.kind,
            task_type=self.training_config.get("task_type"),
            labels=tuple(str(label) for label in labels) if labels else None,
            instructions=self.training_config.get("instructions") or "",
            base_model=str(self.base_path),
            path=self.path,
        )


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


def read_version(
    artifacts_dir: Path, base_model: Path | None = None, *, base_weights_here: bool = True
) -> VersionFiles:
    """Check a version's folder; raises AdapterLoadFailed naming what is missing or wrong.

    ``base_weights_here`` False skips checking that the base model is on this machine (a remote
    backend holds it).
    """
    folder = Path(artifacts_dir)
    if not folder.is_dir():
        raise AdapterLoadFailed(f"{folder} is not a folder")
    try:
        training_config = json.loads((folder / TRAINING_CONFIG_FILE).read_text())
    except FileNotFoundError as error:
        raise AdapterLoadFailed(f"{TRAINING_CONFIG_FILE} is missing from {folder}") from error
    except ValueError as error:
        raise AdapterLoadFailed(f"{TRAINING_CONFIG_FILE} in {folder} is not valid JSON ({error})") from error
    if training_config.get("hyperparameters", {}).get("method") == "full":
        if not _is_model_folder(folder):
            raise AdapterLoadFailed(f"{folder} holds a full fine-tune but no config.json")
        return VersionFiles("full", folder, folder, training_config)
    if not (folder / ADAPTER_CONFIG_FILE).is_file():
        raise AdapterLoadFailed(f"{ADAPTER_CONFIG_FILE} is missing from {folder}: not a LoRA adapter")
    if base_model is None:
        recorded = training_config.get("base_model", {}).get("path")
        if not recorded:
            raise AdapterLoadFailed(f"{TRAINING_CONFIG_FILE} does not name the base model; pass base_model")
        base_model = Path(recorded)
    if base_weights_here and not _is_model_folder(Path(base_model)):
        raise AdapterLoadFailed(f"the base model {base_model} is not available on this machine")
    return VersionFiles("lora", folder, Path(base_model), training_config)


def base_version(base_model: Path, training_config: dict | None = None) -> VersionFiles:
    """A base model served as is (a baseline version: instructions and few-shot turns, no adapter)."""
    if not _is_model_folder(Path(base_model)):
        raise AdapterLoadFailed(f"the base model {base_model} is not available on this machine")
    return VersionFiles("base", None, Path(base_model), dict(training_config or {}))


class TokenizerPool:
    """One ``SharedTokenizer`` per distinct set of tokenizer files (every adapter saves a copy)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokenizers: dict[str, SharedTokenizer] = {}

    def get(self, folder: Path) -> SharedTokenizer:
        digest = hashlib.sha256()
        for name in TOKENIZER_FILES:
            if (folder / name).is_file():
                digest.update(name.encode() + (folder / name).read_bytes())
        key = digest.hexdigest()
        with self._lock:
            if key not in self._tokenizers:
                from training.engine.base_models import load_tokenizer

                try:
                    self._tokenizers[key] = SharedTokenizer(load_tokenizer(folder))
                except (OSError, ValueError) as error:
                    raise AdapterLoadFailed(f"no usable tokenizer in {folder} ({error})") from error
            return self._tokenizers[key]

    def builder(self, files: VersionFiles) -> PromptBuilder:
        builder = PromptBuilder(self.get(files.tokenizer_dir), files.training_config)
        try:
            builder.stop_ids  # noqa: B018 - renders the chat template once: a broken one fails the load
        except Exception as error:
            raise AdapterLoadFailed(
                f"the chat template of {files.tokenizer_dir} does not render ({error})"
            ) from error
        return builder
