"""Constrained decoding: the per-row protocol decode loops call, and JSON Schema answers.

Every decode loop (``inference.greedy_decode``, the serving engine) asks each row's constraint, before
each token, which tokens it may take next, and tells it the token chosen:

    mask = constraint.allowed_token_mask(vocab_size)   # None: anything goes
    ...                                                # argmax over the allowed tokens
    constraint.advance(token_id)
    constraint.is_complete()                           # the answer is over: stop decoding this row
"""

import weakref
from typing import Protocol

import numpy as np
import torch

from training.engine.errors import EngineError


class TokenConstraint(Protocol):
    """What a decode loop asks of one row's constraint (stateful: one instance per answer)."""

    def allowed_token_mask(self, vocab_size: int) -> torch.Tensor | None:
        """A bool tensor of ``vocab_size``, True where the next token is allowed; None allows every token."""

    def advance(self, token_id: int) -> None:
        """Record the token the decoder chose (always one the last mask allowed)."""

    def is_complete(self) -> bool:
        """True once the answer is over (for JSON: the document and its end-of-turn token are emitted)."""


class SchemaUnsupported(EngineError):
    """The JSON Schema cannot be turned into a grammar (the reason names the part)."""


class JsonSchemaGrammar:
    """A project's JSON Schema compiled for one tokenizer; hands out one ``JsonSchemaConstraint`` per answer.

    Answers are compact JSON (no free whitespace, keys in the schema's order, as the studio's
    extraction datasets are written) followed by one of ``stop_ids``, which is allowed only once the
    document is complete. Compiling is lazy in llguidance (about a millisecond); the tokenizer's own
    preparation (about a second) is done once per tokenizer and reused.
    """

    def __init__(self, tokenizer, schema: dict, *, stop_ids: set[int], vocab_size: int | None = None):
        import llguidance

        self.schema = schema
        self.stop_ids = frozenset(stop_ids)
        self._tokenizer = _guidance_tokenizer(tokenizer, vocab_size, tuple(sorted(self.stop_ids)))
        try:
            self._grammar = llguidance.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": False}
            )
        except ValueError as error:
            raise SchemaUnsupported(str(error)) from error
        failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(self._grammar, self._tokenizer)
        if failed:
            raise SchemaUnsupported(messages[0])

    def constraint(self) -> "JsonSchemaConstraint":
        import llguidance

        return JsonSchemaConstraint(llguidance.LLMatcher(self._tokenizer, self._grammar), self.stop_ids)


class JsonSchemaConstraint:
    """One answer held to a JSON Schema (a ``TokenConstraint``); made by ``JsonSchemaGrammar.constraint``."""

    def __init__(self, matcher, stop_ids: frozenset[int]):
        self._matcher = matcher
        self._stop_ids = stop_ids
        self._ended = False

    def allowed_token_mask(self, vocab_size: int) -> torch.Tensor:
        if self._matcher.is_stopped():  # the document is complete: only the end of turn may follow
            allowed = torch.zeros(vocab_size, dtype=torch.bool)
            allowed[list(self._stop_ids)] = True
            return allowed
        bits = np.unpackbits(
            np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8), bitorder="little"
        )
        allowed = torch.zeros(vocab_size, dtype=torch.bool)
        known = min(vocab_size, len(bits))
        allowed[:known] = torch.from_numpy(bits[:known].astype(bool))
        return allowed

    def advance(self, token_id: int) -> None:
        if token_id in self._stop_ids:
            self._ended = True
            return
        if not self._matcher.consume_token(token_id):
            raise ValueError(f"token {token_id} breaks the JSON Schema: {self._matcher.get_error()}")

    def is_complete(self) -> bool:
        return self._ended


_TOKENIZERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _guidance_tokenizer(tokenizer, vocab_size: int | None, stop_ids: tuple[int, ...]):
    """llguidance's view of a Hugging Face fast tokenizer, built once per (tokenizer, vocabulary, stops)."""
    import llguidance.hf

    built = _TOKENIZERS.setdefault(tokenizer, {})
    key = (vocab_size, stop_ids)
    if key not in built:
        built[key] = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=list(stop_ids))
    return built[key]
