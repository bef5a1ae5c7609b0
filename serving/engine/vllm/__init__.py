"""The vllm backend: forwards to a vLLM OpenAI-compatible server that loads adapters at run time."""

from serving.engine.vllm.engine import VllmEngine

__all__ = ["VllmEngine"]
