"""Requests to token ids the same way for every backend, and what an adapter expects around them.

A chat request without a system message gets the version's instructions as its system message (and a
baseline's few-shot examples as earlier turns): that is the prompt the version was trained and
evaluated with, so callers send only the user's turn. Label answers and stop tokens come from the
training engine's ``PromptFormat``, so a served answer is scored exactly as training taught it.
"""

import threading
from functools import cached_property

from serving.engine.errors import InvalidRequest
from training.engine.data import PromptFormat, printable_text


class SharedTokenizer:
    """A Hugging Face tokenizer shared by threads: fast tokenizers refuse concurrent use ("Already
    borrowed"), so request threads and the scheduler take turns through one lock."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.lock = threading.Lock()
        self.has_chat_template = bool(tokenizer.chat_template)

    def encode(self, text: str, *, special_tokens: bool) -> list[int]:
        with self.lock:
            return self.tokenizer(text, add_special_tokens=special_tokens)["input_ids"]

    def render_chat(self, messages: list[dict]) -> list[int]:
        with self.lock:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        with self.lock:
            return printable_text(self.tokenizer.decode(ids, skip_special_tokens=True))

    def prompt_format(self, instructions: str) -> PromptFormat:
        with self.lock:
            return PromptFormat(self.tokenizer, instructions)


class PromptBuilder:
    """Token ids of one version's requests (instructions, few-shot turns, label answers, stop tokens)."""

    def __init__(self, tokenizer: SharedTokenizer, training_config: dict):
        self.tokenizer = tokenizer
        self.instructions = training_config.get("instructions") or ""
        self.few_shot = training_config.get("few_shot_examples") or []
        labels = training_config.get("labels")
        self.labels = tuple(str(label) for label in labels) if labels else None

    @cached_property
    def format(self) -> PromptFormat:
        return self.tokenizer.prompt_format(self.instructions)

    @property
    def stop_ids(self) -> set[int]:
        return self.format.stop_ids

    def chat_ids(self, messages: list[dict]) -> list[int]:
        if not self.tokenizer.has_chat_template:
            raise InvalidRequest("this model has no chat template: send a prompt instead of messages")
        if not any(message["role"] == "system" for message in messages):
            preamble = [{"role": "system", "content": self.instructions}] if self.instructions else []
            for example in self.few_shot:
                preamble.append({"role": "user", "content": str(example["input"])})
                preamble.append({"role": "assistant", "content": str(example["output"])})
            messages = preamble + list(messages)
        return self.tokenizer.render_chat(messages)

    def prompt_ids(self, prompt: str) -> list[int]:
        return self.tokenizer.encode(prompt, special_tokens=True)

    def label_sequences(self, labels: tuple[str, ...] | None) -> dict[str, list[int]]:
        """Each label's answer tokens (the label then the end-of-turn token) for label scoring."""
        labels = labels or self.labels
        if not labels:
            raise InvalidRequest("this version has no label set: classification needs labels")
        fmt = self.format
        with self.tokenizer.lock:
            return {label: fmt.answer_ids(label) for label in dict.fromkeys(labels)}
