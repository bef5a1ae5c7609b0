"""Streamed text: whole characters only, and answers cut before the first stop string."""

import pytest

from serving.engine.prompts import SharedTokenizer
from serving.engine.text import IncrementalText


@pytest.fixture(scope="module")
def tokenizer():
    from training.engine.tiny import build_byte_tokenizer

    return SharedTokenizer(build_byte_tokenizer())  # one token per byte: characters span tokens


def stream(
    tokenizer: SharedTokenizer, text: str, stop: tuple[str, ...] = ()
) -> tuple[list[str], IncrementalText]:
    pieces = IncrementalText(tokenizer, stop)
    released = []
    for token in tokenizer.encode(text, special_tokens=False):
        released.append(pieces.push(token))
        if pieces.stopped:
            break
    released.append(pieces.flush())
    return [piece for piece in released if piece], pieces


def test_multi_byte_characters_are_never_split(tokenizer):
    text = "naïve café ☕ — 東京 🦜!"
    pieces, _ = stream(tokenizer, text)

    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)
    assert "☕" in pieces and "🦜" in pieces  # released whole, once their last byte arrived


def test_the_answer_ends_before_the_first_stop_string(tokenizer):
    pieces, state = stream(tokenizer, "Table for two. Anything else? Bye.", stop=("? ", ". A"))

    assert "".join(pieces) == "Table for two"
    assert state.stopped


def test_text_that_only_starts_like_a_stop_string_is_released(tokenizer):
    pieces, state = stream(tokenizer, "one, two; three", stop=(", four",))

    assert "".join(pieces) == "one, two; three" and not state.stopped
    assert ", t" in pieces  # ", " was held back as a possible stop until "t" ruled it out


def test_a_stop_string_across_many_tokens_and_characters(tokenizer):
    pieces, state = stream(tokenizer, "prix: 12 €€ fin", stop=("€€",))

    assert "".join(pieces) == "prix: 12 " and state.stopped


def test_a_generated_nul_or_escape_byte_never_reaches_the_answer(tokenizer):
    """A random model emits byte tokens such as NUL, which PostgreSQL refuses to store in text or JSON."""
    ids = tokenizer.encode("DR\x00a\tb\nc\x1b[0m", special_tokens=False)
    assert tokenizer.decode(ids) == "DRa\tb\nc[0m"


def test_a_streamed_nul_or_escape_byte_never_reaches_the_client(tokenizer):
    """A random model emits byte tokens such as NUL; nobody reads them and PostgreSQL cannot log them."""
    released, _ = stream(tokenizer, "DR\x00a\tb\nc\x1b[0m")
    assert "".join(released) == "DRa\tb\nc[0m"
