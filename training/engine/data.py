"""Prompt building, tokenization with answer-only labels, and length-grouped dynamic-padding batches."""

import math
import random
import re
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100
_PLACEHOLDER_INPUT = "x"


def build_messages(instructions: str, text: str, answer: str | None = None) -> list[dict]:
    """System = the project's instructions, user = the example input, assistant = the answer."""
    messages = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.append({"role": "user", "content": text})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable_text(text: str) -> str:
    """Generated text without the control characters a model can emit as byte tokens (NUL among them):
    nobody reads them, and PostgreSQL refuses NUL in text and JSON. Tabs and line breaks stay."""
    return _CONTROL_CHARACTERS.sub("", text)


class PromptFormat:
    """Turns rows into token ids with the base model's chat template (prompt and answer tokenized apart).

    The prompt ends with the template's generation prompt; the answer is the output text followed by
    the template's end-of-turn token, exactly what greedy decoding produces after that prompt.
    """

    def __init__(self, tokenizer, instructions: str):
        self.tokenizer = tokenizer
        self.instructions = instructions
        self.special_ids = set(tokenizer.all_special_ids)
        self.eos_id = tokenizer.eos_token_id
        probe = "@@ANSWER@@"
        prompt = self.prompt_text(_PLACEHOLDER_INPUT)
        full = tokenizer.apply_chat_template(
            build_messages(instructions, _PLACEHOLDER_INPUT, probe), tokenize=False
        )
        if full.startswith(prompt) and probe in full[len(prompt) :]:
            after = full[len(prompt) :]
            self.answer_prefix, self.answer_suffix = after.split(probe, 1)
        else:  # a template that rewrites the history: fall back to "answer + EOS"
            self.answer_prefix, self.answer_suffix = "", tokenizer.eos_token or ""
        suffix_ids = self._ids(self.answer_suffix)
        end: list[int] = []
        for token in suffix_ids:
            end.append(token)
            if token in self.special_ids:
                break
        else:
            end = [self.eos_id]
        self.end_ids = end
        self.stop_ids = {end[-1], self.eos_id} - {None}

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def prompt_text(self, text: str, instructions: str | None = None) -> str:
        return self.tokenizer.apply_chat_template(
            build_messages(self.instructions if instructions is None else instructions, text),
            tokenize=False,
            add_generation_prompt=True,
        )

    def prompt_ids(self, text: str, instructions: str | None = None) -> list[int]:
        return self._ids(self.prompt_text(text, instructions))

    def answer_ids(self, output: str) -> list[int]:
        """The trained answer: output tokens then the end-of-turn token."""
        return self._ids(self.answer_prefix + output) + self.end_ids

    def decode_answer(self, ids: list[int]) -> str:
        kept = []
        for token in ids:
            if token in self.stop_ids:
                break
            kept.append(token)
        text = printable_text(self.tokenizer.decode(kept, skip_special_tokens=True))
        if self.answer_prefix and text.startswith(self.answer_prefix):
            text = text[len(self.answer_prefix) :]
        return text.strip()


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def answer_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def encode_example(fmt: PromptFormat, row: dict, max_seq_length: int) -> Example:
    """Prompt + answer ids; labels are IGNORE_INDEX everywhere except the answer and its end-of-turn."""
    prompt = fmt.prompt_ids(str(row["input"]))
    answer = fmt.answer_ids(str(row["output"]))
    truncated = False
    if len(prompt) + len(answer) > max_seq_length:
        truncated = True
        room = max_seq_length - len(answer)
        if room >= 8:
            # Keep the start (system + beginning of the input) and the generation prompt at the end.
            tail = min(8, room // 2)
            prompt = prompt[: room - tail] + prompt[-tail:]
        else:
            prompt = prompt[: max_seq_length // 2]
            answer = answer[: max_seq_length - len(prompt)]
    return Example(
        input_ids=prompt + answer, labels=[IGNORE_INDEX] * len(prompt) + answer, truncated=truncated
    )


def encode_rows(fmt: PromptFormat, rows: list[dict], max_seq_length: int) -> list[Example]:
    return [encode_example(fmt, row, max_seq_length) for row in rows]


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    real_tokens: int
    answer_tokens: int

    def to(self, device) -> "Batch":
        return Batch(
            self.input_ids.to(device, non_blocking=True),
            self.attention_mask.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.real_tokens,
            self.answer_tokens,
        )


def collate(examples: list[Example], pad_id: int) -> Batch:
    """Right-pad to the longest example of this batch only (dynamic padding)."""
    width = max(len(example) for example in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        labels[row, :length] = torch.tensor(example.labels)
        attention_mask[row, :length] = 1
    return Batch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=labels,
        real_tokens=sum(len(example) for example in examples),
        answer_tokens=sum(example.answer_tokens for example in examples),
    )


class LengthGroupedBatches:
    """Seeded per-epoch batch plans: shuffle, sort by length inside large groups, shuffle the batches.

    Examples of similar length share a batch, so padding stays small; the plan for an epoch depends only
    on (seed, epoch), which lets a resumed run continue at the same batch.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group_batches: int = 64):
        if not lengths:
            raise ValueError("no examples to batch")
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.group_size = batch_size * group_batches

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def plan(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches: list[list[int]] = []
        for start in range(0, len(order), self.group_size):
            group = sorted(order[start : start + self.group_size], key=lambda index: -self.lengths[index])
            batches.extend(group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size))
        rng.shuffle(batches)
        return batches


def sequential_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches: sorted by length (no shuffling), still dynamically padded."""
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
