"""The embedded backend (torch, transformers, peft): import it only in the inference process."""

from serving.engine.embedded.engine import EmbeddedEngine

__all__ = ["EmbeddedEngine"]
