"""Which models train packed (``engine.packing``); the maths of a packed batch is checked against whole
sequences in ``test_engine``. Django-free (run with ``-p no:django``)."""

import pytest
from transformers import Gemma2Config, GPT2Config, LlamaConfig, MistralConfig

from training.engine.data import IGNORE_INDEX, Example
from training.engine.packing import pack, packable


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LlamaConfig(architectures=["LlamaForCausalLM"]), True),
        (MistralConfig(architectures=["MistralForCausalLM"], sliding_window=None), True),
        (MistralConfig(architectures=["MistralForCausalLM"], sliding_window=4096), True),
        (MistralConfig(architectures=["MistralForCausalLM"], sliding_window=16), False),  # shorter than 64
        (Gemma2Config(architectures=["Gemma2ForCausalLM"]), False),  # soft-capped scores
        (GPT2Config(architectures=["GPT2LMHeadModel"]), False),  # learned absolute positions
        (LlamaConfig(), False),  # no architecture named: run whole
    ],
)
def test_only_rotary_decoders_with_plain_masked_attention_are_packed(config, expected):
    assert packable(config, max_length=64) is expected


def test_a_packed_row_holds_the_prefix_once_and_each_example_at_its_own_positions():
    first = Example([10, 11, 12], [IGNORE_INDEX, IGNORE_INDEX, 12])
    second = Example([20, 21, 22, 23, 24], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 23, 24])
    batch = pack([first, second], prefix=[1, 2])

    assert batch.input_ids.tolist() == [[1, 2, 10, 11, 12, 20, 21, 22, 23, 24]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 4, 2, 3, 4, 5, 6]]
    # Each token predicts the next answer token of its own example, never the next example's first token.
    assert batch.targets.tolist() == [[-100, -100, -100, 12, -100, -100, -100, 23, 24, -100]]
    assert (batch.real_tokens, batch.answer_tokens) == (8, 3)
    assert batch.sequence_lengths.view(-1).tolist() == [2, 2, 3, 3, 3, 5, 5, 5, 5, 5]
    layout = batch.layout
    assert layout.index.tolist() == [[2, 3, 4, 0, 0], [5, 6, 7, 8, 9]]
    assert layout.tokens.tolist() == [0, 1, 2, 5, 6, 7, 8, 9]
    # The first example's last token sees the prefix and its own three tokens, nothing of the second's.
    assert layout.allowed[0, 0, 2].tolist() == [True, True, True, True, True, False, False]
    assert layout.allowed[1, 0, 4].tolist() == [True] * 7
    # Three query heads per key/value head: the same mask, once per head of the group.
    assert layout.blocked(3).shape == (2, 1, 15, 7)
    assert layout.blocked(3)[0, 0, 7].tolist() == [False] * 5 + [True] * 2
