"""Batched greedy decoding, label-constrained decoding and label scoring; loading saved versions."""

import copy
import inspect
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from training.engine import cores
from training.engine.base_models import CachedModel, load_engine_model, load_tokenizer
from training.engine.constrained import JsonSchemaGrammar, TokenConstraint
from training.engine.data import PromptFormat
from training.engine.hardware import (
    autocast_dtype,
    configure,
    pick_device,
)

TRAINING_CONFIG_FILE = "training_config.json"
_TERMINAL = -1
# Label mass a batched classification may leave unscored (every probability is exact to within it).
DEFAULT_TOLERANCE = 1e-3


def _cache_in(model, cache) -> dict:
    """The KV-cache keyword of this transformers version (``cache`` from 5.x, ``past_key_values`` before)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    name = "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"
    return {name: cache}


def _cache_out(output):
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _vocab_size(model) -> int:
    return model.get_output_embeddings().weight.shape[0]


def _autocast(device: torch.device):
    dtype = autocast_dtype(device)
    if dtype is None:
        return torch.autocast("cpu", enabled=False)
    return torch.autocast(device.type, dtype=dtype)


class LabelTrie:
    """Token-id trie of the label answers (label tokens + end-of-turn), for constrained decoding."""

    def __init__(self, sequences: dict[str, list[int]]):
        self.root: dict = {}
        self.sequences = sequences
        for label, ids in sequences.items():
            node = self.root
            for token in ids:
                node = node.setdefault(token, {})
            node[_TERMINAL] = label
        self.depth = max(len(ids) for ids in sequences.values())

    def node(self, prefix: list[int]) -> dict | None:
        node = self.root
        for token in prefix:
            node = node.get(token)
            if node is None:
                return None
        return node

    def allowed(self, prefix: list[int]) -> list[int]:
        node = self.node(prefix) or {}
        return [token for token in node if token != _TERMINAL]

    def label(self, prefix: list[int]) -> str | None:
        node = self.node(prefix)
        return None if node is None else node.get(_TERMINAL)


class LabelConstraint:
    """One answer constrained to the label answers of a trie (a ``TokenConstraint``)."""

    def __init__(self, trie: LabelTrie):
        self.trie = trie
        self.prefix: list[int] = []

    def allowed_token_mask(self, vocab_size: int) -> torch.Tensor:
        mask = torch.zeros(vocab_size, dtype=torch.bool)
        mask[self.trie.allowed(self.prefix)] = True
        return mask

    def advance(self, token_id: int) -> None:
        self.prefix.append(token_id)

    def is_complete(self) -> bool:
        return self.trie.label(self.prefix) is not None


@torch.no_grad()
def greedy_decode(
    model,
    prompts: list[list[int]],
    *,
    pad_id: int,
    stop_ids: set[int],
    max_new_tokens: int,
    batch_size: int = 16,
    constraints: Sequence[TokenConstraint | None] | None = None,
) -> list[list[int]]:
    """Greedy continuation of each prompt (left-padded batches, KV cache, deterministic argmax).

    ``constraints[i]`` (one per prompt, consumed) restricts prompt i's next tokens (labels, JSON Schema);
    decoding of a row ends at a stop token, when its constraint is complete, or after ``max_new_tokens``.
    """
    device = next(model.parameters()).device
    results: list[list[int]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda index: -len(prompts[index]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(prompts[row]) for row in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for position, row in enumerate(rows):
            ids = prompts[row]
            input_ids[position, width - len(ids) :] = torch.tensor(ids)
            attention_mask[position, width - len(ids) :] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        generated: list[list[int]] = [[] for _ in rows]
        done = [False] * len(rows)
        row_constraints = [constraints[row] for row in rows] if constraints is not None else None
        with _autocast(device):
            out = model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=True,
                logits_to_keep=1,
            )
        for _ in range(max_new_tokens):
            logits = out.logits[:, -1, :].float()
            if row_constraints is not None:
                _mask_disallowed(logits, row_constraints, done)
            next_tokens = logits.argmax(-1)
            for position, token in enumerate(next_tokens.tolist()):
                if done[position]:
                    next_tokens[position] = pad_id
                    continue
                generated[position].append(token)
                constraint = row_constraints[position] if row_constraints is not None else None
                if constraint is not None:
                    constraint.advance(token)
                if token in stop_ids or (constraint is not None and constraint.is_complete()):
                    done[position] = True
            if all(done):
                break
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(rows), 1))], dim=1)
            position_ids = position_ids[:, -1:] + 1
            with _autocast(device):
                out = model(
                    input_ids=next_tokens[:, None].to(device),
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    use_cache=True,
                    **_cache_in(model, _cache_out(out)),
                )
        for position, row in enumerate(rows):
            results[row] = generated[position]
    return results


def _mask_disallowed(
    logits: torch.Tensor, constraints: list[TokenConstraint | None], done: list[bool]
) -> None:
    """Set the logits of every token a row's constraint forbids to -inf (in place)."""
    for position, constraint in enumerate(constraints):
        if constraint is None or done[position]:
            continue
        allowed = constraint.allowed_token_mask(logits.shape[-1])
        if allowed is not None:
            logits[position].masked_fill_(~allowed.to(logits.device), -math.inf)


def predict_labels(model, fmt: PromptFormat, inputs: list[str], trie: LabelTrie, batch_size: int = 16):
    """The label greedy decoding picks when only label answers are allowed (fast classification eval)."""
    prompts = [fmt.prompt_ids(text) for text in inputs]
    generated = greedy_decode(
        model,
        prompts,
        pad_id=fmt.tokenizer.pad_token_id,
        stop_ids=set(),
        max_new_tokens=trie.depth,
        batch_size=batch_size,
        constraints=[LabelConstraint(trie) for _ in prompts],
    )
    return [trie.label(ids) for ids in generated]


@torch.no_grad()
def score_labels(
    model,
    fmt: PromptFormat,
    text: str,
    trie: LabelTrie,
    *,
    instructions: str | None = None,
    shortlist: int = 24,
) -> dict[str, float]:
    """Softmax over labels of each label answer's summed token log-probabilities.

    The prompt runs once; its KV cache is repeated for every candidate label. With many labels only
    those whose first token is among the ``shortlist`` most likely first tokens are scored (others get
    probability 0): their first token alone already makes them far less likely.
    """
    device = next(model.parameters()).device
    prompt = torch.tensor([fmt.prompt_ids(text, instructions)], device=device)
    with _autocast(device):
        out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
    candidates = list(trie.sequences)
    if len(candidates) > shortlist:
        first_tokens = sorted(
            {trie.sequences[label][0] for label in candidates}, key=lambda t: -first[t].item()
        )
        keep = set(first_tokens[:shortlist])
        candidates = [label for label in candidates if trie.sequences[label][0] in keep]
    sequences = [trie.sequences[label] for label in candidates]
    width = max(len(ids) for ids in sequences)
    scores = torch.tensor([first[ids[0]].item() for ids in sequences], device=device)
    if width > 1:
        feed = torch.full((len(sequences), width - 1), fmt.tokenizer.pad_token_id, dtype=torch.long)
        for row, ids in enumerate(sequences):
            feed[row, : len(ids) - 1] = torch.tensor(ids[:-1])
        cache = _cache_out(out)
        cache.batch_repeat_interleave(len(sequences))
        positions = torch.arange(prompt.shape[1], prompt.shape[1] + width - 1, device=device)
        # Right padding needs no mask: causal attention never lets a real token see a later pad.
        with _autocast(device):
            logits = model(
                input_ids=feed.to(device),
                position_ids=positions.expand(len(sequences), -1),
                use_cache=True,
                **_cache_in(model, cache),
            ).logits.float()
        log_probs = torch.log_softmax(logits, dim=-1)
        for row, ids in enumerate(sequences):
            targets = torch.tensor(ids[1:], device=device)
            scores[row] += log_probs[row, torch.arange(len(ids) - 1, device=device), targets].sum()
    probabilities = torch.softmax(scores, dim=0).tolist()
    result = dict.fromkeys(trie.sequences, 0.0)
    result.update(zip(candidates, probabilities, strict=True))
    return result


class Predictor:
    """A trained model version ready to answer: generation, and label classification with confidence."""

    def __init__(self, model, tokenizer, training_config: dict, device: torch.device):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.training_config = training_config
        self.device = device
        self.instructions = training_config.get("instructions", "")
        self.labels = training_config.get("labels") or None
        self._formats: dict[str, PromptFormat] = {}

    def _format(self, instructions: str | None) -> PromptFormat:
        key = self.instructions if instructions is None else instructions
        if key not in self._formats:
            self._formats[key] = PromptFormat(self.tokenizer, key)
        return self._formats[key]

    def generate(
        self,
        inputs: list[str],
        *,
        instructions: str | None = None,
        max_new_tokens: int = 64,
        schema: dict | None = None,
    ) -> list[str]:
        """Greedy answers (deterministic), batched; with a JSON ``schema`` every answer is held to it.

        A constrained answer is always a prefix of a schema-valid document: it is complete unless it ran
        out of ``max_new_tokens``.
        """
        cores.rebalance()
        fmt = self._format(instructions)
        prompts = [fmt.prompt_ids(text) for text in inputs]
        constraints = None
        if schema is not None:
            grammar = JsonSchemaGrammar(
                self.tokenizer, schema, stop_ids=fmt.stop_ids, vocab_size=_vocab_size(self.model)
            )
            constraints = [grammar.constraint() for _ in prompts]
        generated = greedy_decode(
            self.model,
            prompts,
            pad_id=self.tokenizer.pad_token_id,
            stop_ids=fmt.stop_ids,
            max_new_tokens=max_new_tokens,
            constraints=constraints,
        )
        return [fmt.decode_answer(ids) for ids in generated]

    def classify(
        self,
        inputs: list[str],
        labels: list[str] | None = None,
        instructions: str | None = None,
        *,
        temperature: float = 1.0,
    ) -> list[tuple[str, float]]:
        """(label, confidence) per input; confidence = softmax over the labels' answer log-probabilities."""
        scores = self.label_scores(inputs, labels, instructions, temperature=temperature)
        return [(score.label, score.confidence) for score in scores]

    def best_labels(self, inputs: list[str], labels: list[str] | None = None) -> list[str]:
        """The likeliest label per input (what ``classify`` answers), without scoring every label."""
        from training.engine.classify import best_labels

        fmt, tree = self._label_tree(labels, None)
        return best_labels(self.model, fmt, inputs, tree)

    def _label_tree(self, labels: list[str] | None, instructions: str | None):
        """(prompt format, label tree) for scoring labels; this process's core share refreshed."""
        # classify builds on this module's decoding helpers, so it is imported here, not at the top.
        from training.engine.classify import LabelTree

        labels = labels or self.labels
        if not labels:
            raise ValueError("classify needs the label set")
        cores.rebalance()
        fmt = self._format(instructions)
        return fmt, LabelTree({label: fmt.answer_ids(label) for label in labels})

    def label_scores(
        self,
        inputs: list[str],
        labels: list[str] | None = None,
        instructions: str | None = None,
        *,
        temperature: float = 1.0,
        tolerance: float = DEFAULT_TOLERANCE,
    ):
        """Every label's log-probability per input, batched (``classify.score_label_batch``)."""
        from training.engine.classify import score_label_batch

        fmt, tree = self._label_tree(labels, instructions)
        return score_label_batch(self.model, fmt, inputs, tree, temperature=temperature, tolerance=tolerance)

    def merge_and_save(self, out_dir: Path) -> Path:
        """Base weights with the adapter merged in, saved as a standalone HF folder."""
        out_dir = Path(out_dir)
        model = copy.deepcopy(self.model).float()  # merge in fp32 even where the base runs in bf16
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        return out_dir


def load_model_version(
    adapter_dir: Path, base_model: CachedModel | Path | None = None, *, device: str | None = None
) -> Predictor:
    """Load a version saved by ``run_training`` (``work_dir/output``) on top of its base model."""
    adapter_dir = Path(adapter_dir)
    training_config = json.loads((adapter_dir / TRAINING_CONFIG_FILE).read_text())
    target = torch.device(device) if device else pick_device()
    configure(target)
    tokenizer = load_tokenizer(adapter_dir)
    if training_config.get("hyperparameters", {}).get("method") == "full":
        model = load_engine_model(adapter_dir, target, method="full")
    else:
        from peft import PeftModel

        if base_model is None:
            base_path = Path(training_config["base_model"]["path"])
        else:
            base_path = base_model.path if isinstance(base_model, CachedModel) else Path(base_model)
        base = load_engine_model(base_path, target)  # as the run's evaluation held it: answers alike
        model = PeftModel.from_pretrained(base, adapter_dir).to(target)
    return Predictor(model, tokenizer, training_config, target)
