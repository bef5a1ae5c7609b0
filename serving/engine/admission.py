"""Checks every backend runs on a request before it takes a place: token counts against the limits."""

from serving.engine.config import EngineLimits
from serving.engine.errors import ContextLengthExceeded, InvalidRequest
from serving.engine.prompts import PromptBuilder
from serving.engine.protocol import GenerateRequest


def generation_prompt(builder: PromptBuilder, request: GenerateRequest) -> list[int]:
    if request.messages is not None:
        return builder.chat_ids(request.messages)
    return builder.prompt_ids(request.prompt)


def max_tokens_for(request: GenerateRequest, limits: EngineLimits) -> int:
    max_tokens = request.max_tokens or limits.default_max_tokens
    if max_tokens > limits.max_tokens_cap:
        raise InvalidRequest(
            f"max_tokens is {max_tokens}; this endpoint allows at most {limits.max_tokens_cap}",
            details={"field": "max_tokens", "limit": limits.max_tokens_cap},
        )
    return max_tokens


def check_length(
    prompt_ids: list[int],
    new_tokens: int,
    limits: EngineLimits,
    context_length: int,
    request_limit: int | None = None,
) -> None:
    """The input must fit the engine's limit (and the request's own, when it is lower), and the input
    plus ``new_tokens`` the model's context."""
    if not prompt_ids:
        raise InvalidRequest("the prompt is empty")
    limit = min(limits.max_input_tokens, request_limit or limits.max_input_tokens)
    if len(prompt_ids) > limit:
        raise ContextLengthExceeded(
            f"the input has {len(prompt_ids)} tokens; this endpoint takes at most {limit}",
            details={"prompt_tokens": len(prompt_ids), "limit": limit},
        )
    if len(prompt_ids) + new_tokens > context_length:
        raise ContextLengthExceeded(
            f"the model's context is {context_length} tokens; the input has {len(prompt_ids)} "
            f"and {new_tokens} more are asked for",
            details={"prompt_tokens": len(prompt_ids), "context_length": context_length},
        )
