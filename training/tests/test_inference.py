"""Inference primitives evaluation and serving call: batched label scores, JSON Schema answers.

Django-free (run with ``-p no:django``). Fast tests use the tiny random Llama (byte-level tokenizer, so
every label is several tokens and labels share prefixes); ``slow`` tests use the real SmolLM2.
"""

import json
import math

import jsonschema
import pytest
import torch

from training.engine.base_models import load_causal_lm, load_tokenizer
from training.engine.classify import LabelTree, best_labels, score_label_batch
from training.engine.constrained import JsonSchemaGrammar, SchemaUnsupported
from training.engine.data import PromptFormat
from training.engine.inference import LabelTrie, Predictor, score_labels

LABELS = ["cat", "catalog", "dog", "doge", "bird watching", "b"]
TEXTS = [
    "hi",
    "it says meow, loudly, twice in a row",
    "a list of products",
    "x" * 40,
    "woof",
    "much wow, very coin",
    "binoculars and a notebook at dawn",
]
INSTRUCTIONS = "Name the thing."
# More rows than one batch's worth of different tree widths: rows whose widths differ share a pass.
MANY_TEXTS = [*TEXTS, *(f"row {n}: {'z' * n}" for n in range(12))]


def load_tiny(path):
    return load_causal_lm(path).eval(), load_tokenizer(path)


@pytest.mark.parametrize("rows", [1, 4])
def test_the_prompt_pass_runs_the_output_head_as_one_product_not_a_weight_copy_per_row(tiny_model, rows):
    """``logits_to_keep=1`` hands the head a (rows, 1, hidden) slice that is not contiguous; the model as
    the engine loads it still multiplies it by the head's weight once, never a (rows, hidden, vocabulary)
    copy of it (a copy of SmolLM2's 28M-weight head per row was half of every prompt pass)."""
    from torch.profiler import ProfilerActivity, profile

    model, _ = load_tiny(tiny_model)
    model.requires_grad_(False)  # frozen, as every loaded version and served model is
    vocabulary, hidden = model.get_output_embeddings().weight.shape
    ids = torch.randint(0, vocabulary, (rows, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as recorded:
        last = model(input_ids=ids, logits_to_keep=1).logits[:, -1]
    shapes = {tuple(shape) for event in recorded.events() for shape in event.input_shapes if shape}
    assert (rows, hidden, vocabulary) not in shapes
    with torch.no_grad():
        torch.testing.assert_close(last, model(input_ids=ids).logits[:, -1])


def exact_probabilities(model, fmt: PromptFormat, texts: list[str]) -> list[dict[str, float]]:
    """The one-text-at-a-time path, scoring every label (no shortlist)."""
    trie = LabelTrie({label: fmt.answer_ids(label) for label in LABELS})
    return [score_labels(model, fmt, text, trie, shortlist=len(LABELS)) for text in texts]


# -- batched label scores ---------------------------------------------------------------------------


def test_batched_scores_equal_the_one_text_path_with_multi_token_labels_and_padding(tiny_model):
    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    tree = LabelTree({label: fmt.answer_ids(label) for label in LABELS})
    expected = exact_probabilities(model, fmt, TEXTS)

    # batches of 3 rows of different lengths: left padding in the prompt, padding slots in the label tree
    scored = score_label_batch(model, fmt, TEXTS, tree, tolerance=0.0, batch_size=3)

    for result, reference in zip(scored, expected, strict=True):
        probabilities = [math.exp(value) for value in result.log_probs]
        assert probabilities == pytest.approx([reference[label] for label in LABELS], abs=1e-4)
        assert result.label == max(reference, key=reference.get)
        assert result.confidence == pytest.approx(max(reference.values()), abs=1e-4)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5) and result.unscored_mass == 0.0
    assert len({round(result.confidence, 6) for result in scored}) > 1  # the answers depend on the input


def test_labels_left_unscored_by_the_tolerance_move_no_probability_more_than_it(tiny_model):
    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    # One-token answers: a label's probability is its first token's, so low-probability letters are pruned.
    letters = {
        letter: tokenizer(letter, add_special_tokens=False)["input_ids"]
        for letter in "abcdefghijklmnopqrstuvwxyz"
    }
    # Two longer labels give rows different tree widths, scored in separate passes.
    longer = {
        label: tokenizer(label, add_special_tokens=False)["input_ids"]
        for label in ("catalog", "dogs and cats")
    }
    tree = LabelTree({**letters, **longer})
    exact = score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=0.0)

    for tolerance in (0.05, 0.3):
        pruned = score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=tolerance)
        skipped = 0
        for result, reference in zip(pruned, exact, strict=True):
            assert result.unscored_mass <= tolerance
            for value, expected in zip(result.log_probs, reference.log_probs, strict=True):
                assert math.exp(value) == pytest.approx(math.exp(expected), abs=tolerance)
                skipped += value == -math.inf
            assert result.label == reference.label
        assert skipped > 0


def test_a_row_short_of_the_tolerance_scores_more_labels_on_the_same_prompt_pass(tiny_model, monkeypatch):
    """Every answer ends with the end-of-turn token, so a label holds less than its first token promised
    and the first choice of labels can fall short; such a row scores the next likeliest groups on the
    prompt pass it has, never runs its prompt again, and still keeps every probability within tolerance."""
    from training.engine import classify

    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    words = [*"abcdefghijklmnopqrstuvwxyz", *LABELS, "dogs and cats", "catalogue"]
    tree = LabelTree({label: fmt.answer_ids(label) for label in dict.fromkeys(words)})
    exact = score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=0.0)
    prompt_passes, refined = [], []
    run_prompts, more_groups = classify._run_prompts, classify._more_groups
    monkeypatch.setattr(classify, "_run_prompts", lambda *a: prompt_passes.append(1) or run_prompts(*a))
    monkeypatch.setattr(classify, "_more_groups", lambda *a: refined.append(more_groups(*a)) or refined[-1])

    tolerance = 0.05
    pruned = score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=tolerance, batch_size=4)

    assert len(prompt_passes) == math.ceil(len(MANY_TEXTS) / 4)  # one prompt pass per batch, no rescoring
    assert any(more.any() for more in refined)  # some rows did fall short of the first choice
    for result, reference in zip(pruned, exact, strict=True):
        assert result.unscored_mass <= tolerance and result.label == reference.label
        for value, expected in zip(result.log_probs, reference.log_probs, strict=True):
            assert math.exp(value) == pytest.approx(math.exp(expected), abs=tolerance)
    assert any(value == -math.inf for result in pruned for value in result.log_probs)


def test_more_groups_are_the_fewest_likeliest_that_bring_the_unscored_bound_within_tolerance():
    from training.engine.classify import _more_groups

    bound = torch.tensor([[0.5, 0.3, 0.1, 0.05, 0.05]] * 3).log()
    selected = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    scored = torch.tensor([0.4, 0.9, 1e-4], dtype=torch.float64).log()

    more = _more_groups(bound, selected, scored, tolerance=0.3)

    assert more.tolist() == [
        [False, True, True, False, False],  # 0.1 left unscored <= 0.3 x 0.4
        [False, False, False, False, False],  # 0.05 <= 0.3 x 0.9 already
        [False, True, True, True, True],  # nothing short of every group is within 0.3 x 1e-4
    ]


@pytest.mark.parametrize("first_groups", [1, 3, 8])
def test_best_labels_are_the_exact_argmax_while_scoring_few_groups(tiny_model, first_groups):
    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    # 26 one-letter labels and multi-token ones sharing prefixes: a random model spreads its mass over
    # many first tokens, so one group is rarely enough and the second pass decides most rows.
    words = [*"abcdefghijklmnopqrstuvwxyz", *LABELS, "dogs and cats", "catalogue"]
    tree = LabelTree({label: fmt.answer_ids(label) for label in dict.fromkeys(words)})
    exact = [result.label for result in score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=0.0)]

    assert best_labels(model, fmt, MANY_TEXTS, tree, batch_size=4, first_groups=first_groups) == exact
    assert len(set(exact)) > 1  # the answers depend on the input


def test_rows_scoring_different_labels_in_one_pass_get_their_own_scores(tiny_model):
    """Rows whose shortlists differ share one tree pass; each must be scored against its own prompt."""
    from training.engine.classify import _label_scores, _run_prompts

    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    tree = LabelTree({label: fmt.answer_ids(label) for label in [*"abcdefghij", *LABELS]})
    prompts = [fmt.prompt_ids(text) for text in TEXTS[:4]]
    # Each row its own first-token groups ("b" holds "bird watching": 13 trie nodes), of widths close
    # enough to share one pass (13 to 20 nodes) but ordered by width not in their batch order.
    first = {tokenizer.decode(token): group for group, token in enumerate(tree.first_tokens.tolist())}
    selected = torch.zeros((4, len(first)), dtype=torch.bool)
    for row, letters in enumerate(["bc", "b", "bda", "cdefgh"]):
        selected[row, [first[letter] for letter in letters]] = True
    device = torch.device("cpu")
    with torch.no_grad():
        together = _label_scores(model, _run_prompts(model, prompts, device), tree, selected, device)
        for row in range(4):
            alone = _label_scores(
                model,
                _run_prompts(model, prompts[row : row + 1], device),
                tree,
                selected[row : row + 1],
                device,
            )
            assert together[row].tolist() == pytest.approx(alone[0].tolist(), abs=1e-4)


@pytest.mark.parametrize("chunk", [1, 5, 16])
def test_a_tree_too_wide_for_one_pass_is_scored_in_chunks_to_the_same_scores(tiny_model, monkeypatch, chunk):
    """Rows selecting more trie nodes than one pass holds are scored in passes of whole first-token
    groups; every label's score, every row (wide and narrow ones) and the best label stay the same."""
    from training.engine import classify

    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    tree = LabelTree({label: fmt.answer_ids(label) for label in [*"abcdefghij", *LABELS]})
    with torch.no_grad():
        whole = score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=0.0)
        answers = best_labels(model, fmt, MANY_TEXTS, tree)
        monkeypatch.setattr(classify, "_TREE_CHUNK", chunk)
        chunked = score_label_batch(model, fmt, MANY_TEXTS, tree, tolerance=0.0)
        assert best_labels(model, fmt, MANY_TEXTS, tree) == answers
    assert len(classify._tree_chunks(torch.ones((2, len(tree)), dtype=torch.bool), tree)) > 1
    for one, other in zip(whole, chunked, strict=True):
        assert other.label == one.label
        assert list(other.log_probs) == pytest.approx(list(one.log_probs), abs=1e-4)


def test_temperature_rescales_the_label_distribution(tiny_model):
    model, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    tree = LabelTree({label: fmt.answer_ids(label) for label in LABELS})
    plain = score_label_batch(model, fmt, TEXTS, tree, tolerance=0.0)
    for temperature in (0.5, 2.0):
        tempered = score_label_batch(model, fmt, TEXTS, tree, tolerance=0.0, temperature=temperature)
        for before, after in zip(plain, tempered, strict=True):
            rescaled = torch.log_softmax(torch.tensor(before.log_probs) / temperature, dim=0)
            assert list(after.log_probs) == pytest.approx(rescaled.tolist(), abs=1e-4)
            assert after.label == before.label
            assert (after.confidence > before.confidence) == (temperature < 1)
    with pytest.raises(ValueError, match="temperature"):
        score_label_batch(model, fmt, TEXTS, tree, temperature=0.0)


# -- JSON Schema answers ----------------------------------------------------------------------------

BOOKING_SCHEMA = {
    "$defs": {"name": {"type": "string", "pattern": "^[A-Z][a-z]+$", "maxLength": 12}},
    "type": "object",
    "properties": {
        "people": {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 20},
                {"type": "string", "enum": ["a couple", "a few"]},
            ]
        },
        "guests": {"type": "array", "items": {"$ref": "#/$defs/name"}, "maxItems": 3},
        "time": {"type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2}$"},
        "seating": {"enum": ["indoor", "outdoor", "bar"]},
    },
    "required": ["people", "seating"],
    "additionalProperties": False,
}
BOOKINGS = [f"table for {n} under Smith at {n}pm {'please ' * n}" for n in range(1, 7)]


def test_a_random_model_held_to_a_schema_always_answers_valid_json(tiny_model):
    model, tokenizer = load_tiny(tiny_model)
    predictor = Predictor(model, tokenizer, {"instructions": "Extract the booking."}, torch.device("cpu"))

    free = predictor.generate(BOOKINGS, max_new_tokens=40)
    constrained = predictor.generate(BOOKINGS, max_new_tokens=200, schema=BOOKING_SCHEMA)

    assert not any(answer.startswith("{") for answer in free)  # garbage without the constraint
    for answer in constrained:
        jsonschema.validate(json.loads(answer), BOOKING_SCHEMA)
    assert len(set(constrained)) > 1


def test_the_end_of_turn_is_allowed_only_once_the_document_is_complete(tiny_model):
    _, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, "")
    [stop] = fmt.stop_ids
    grammar = JsonSchemaGrammar(tokenizer, BOOKING_SCHEMA, stop_ids=fmt.stop_ids)
    constraint = grammar.constraint()
    vocab_size = len(tokenizer)

    for token in tokenizer('{"people":"a few","seating":"bar"}', add_special_tokens=False)["input_ids"]:
        allowed = constraint.allowed_token_mask(vocab_size)
        assert allowed[token] and not allowed[stop] and not constraint.is_complete()
        constraint.advance(token)
    allowed = constraint.allowed_token_mask(vocab_size)
    assert allowed.nonzero().flatten().tolist() == [stop]
    constraint.advance(stop)
    assert constraint.is_complete()


def test_a_schema_that_cannot_be_compiled_is_a_plain_error(tiny_model):
    _, tokenizer = load_tiny(tiny_model)
    broken = {"type": "object", "properties": {"name": {"$ref": "#/$defs/missing"}}}
    with pytest.raises(SchemaUnsupported, match="missing"):
        JsonSchemaGrammar(tokenizer, broken, stop_ids={tokenizer.eos_token_id})


# -- the real SmolLM2 (slow) ------------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_batched_scores_match_and_extractions_satisfy_the_schema(smollm2):
    from transformers import AutoModelForCausalLM

    cached, _ = smollm2
    model = AutoModelForCausalLM.from_pretrained(cached.path, dtype=torch.float32).eval()
    tokenizer = load_tokenizer(cached.path)
    fmt = PromptFormat(tokenizer, "Classify the request.")
    labels = ["book_table", "cancel_booking", "opening_hours", "card_declined", "card_lost"]
    texts = ["a table for two tonight", "cancel my reservation please", "when do you open on sunday?"]
    tree = LabelTree({label: fmt.answer_ids(label) for label in labels})
    trie = LabelTrie({label: fmt.answer_ids(label) for label in labels})
    for result, text in zip(score_label_batch(model, fmt, texts, tree, tolerance=0.0), texts, strict=True):
        reference = score_labels(model, fmt, text, trie, shortlist=len(labels))
        assert [math.exp(v) for v in result.log_probs] == pytest.approx(
            [reference[label] for label in labels], abs=1e-4
        )

    predictor = Predictor(
        model, tokenizer, {"instructions": "Extract the booking as JSON."}, torch.device("cpu")
    )
    answers = predictor.generate(BOOKINGS[:3], max_new_tokens=60, schema=BOOKING_SCHEMA)
    for answer in answers:
        jsonschema.validate(json.loads(answer), BOOKING_SCHEMA)


def test_a_generated_nul_or_escape_byte_never_reaches_the_answer(tiny_model):
    """A random model emits byte tokens such as NUL, which PostgreSQL refuses to store in text or JSON."""
    _, tokenizer = load_tiny(tiny_model)
    fmt = PromptFormat(tokenizer, INSTRUCTIONS)
    ids = tokenizer("DR\x00a\tb\nc\x1b[0m", add_special_tokens=False)["input_ids"]
    assert "\x00" in tokenizer.decode(ids)  # the tokenizer does produce it
    assert fmt.decode_answer(ids) == "DRa\tb\nc[0m"
