"""Forwarding an escalated request to the endpoint's fallback model (any OpenAI-compatible server)."""

from __future__ import annotations

from serving.engine.errors import ServingError
from serving.engine.vllm.client import HttpError, VllmClient


class FallbackFailed(Exception):
    """The fallback model did not answer usefully in time; the endpoint's own answer stands, escalated."""


def forward_chat(
    url: str, *, model: str, messages: list[dict], max_tokens: int | None, timeout: float
) -> str:
    """``POST {url}/chat/completions``; returns the answer's text."""
    try:
        answer = VllmClient(url, connect_timeout=timeout).call(
            "POST",
            "/chat/completions",
            {"model": model, "messages": messages, "max_tokens": max_tokens, "stream": False},
            timeout=timeout,
        )
    except (HttpError, ServingError, ValueError) as error:
        raise FallbackFailed(str(error)) from error
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as error:
        raise FallbackFailed("the fallback model's answer has no choices[0].message.content") from error
    if not isinstance(content, str):
        raise FallbackFailed("the fallback model's answer is not text")
    return content
