"""Constraints used by the engine tests (the engine's constraint hook, implemented for tests)."""

import threading

import torch


class Hold:
    """Allows every token, but holds the scheduler thread at this request's ``at``-th token until
    ``release()``: requests sent meanwhile are waiting when the next round starts, whatever the timing."""

    def __init__(self, at: int = 1, timeout: float = 60.0):
        self.at = at
        self.timeout = timeout
        self.calls = 0
        self.reached = threading.Event()
        self._released = threading.Event()

    def allowed_token_mask(self, vocab_size: int):
        self.calls += 1
        if self.calls == self.at:
            self.reached.set()
            if not self._released.wait(self.timeout):
                raise AssertionError("the test never released the held scheduler")
        return None

    def advance(self, token_id: int) -> None:
        pass

    def is_complete(self) -> bool:
        return False

    def wait_reached(self) -> None:
        assert self.reached.wait(self.timeout), "the held request never reached its token"

    def release(self) -> None:
        self._released.set()


class LowercaseWord:
    """Only lowercase ASCII letters, and complete after ``length`` of them."""

    def __init__(self, tokenizer, length: int):
        self.ids = [
            i for i in range(len(tokenizer)) if tokenizer.decode([i]) in set("abcdefghijklmnopqrstuvwxyz")
        ]
        self.length = length
        self.count = 0

    def allowed_token_mask(self, vocab_size: int):
        mask = torch.zeros(vocab_size, dtype=torch.bool)
        mask[self.ids] = True
        return mask

    def advance(self, token_id: int) -> None:
        assert token_id in self.ids, "the engine chose a token the constraint did not allow"
        self.count += 1

    def is_complete(self) -> bool:
        return self.count >= self.length
