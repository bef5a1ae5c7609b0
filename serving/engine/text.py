"""Generated token ids to streamed text: whole characters only, and cut at the first stop string."""

from serving.engine.prompts import SharedTokenizer

_INCOMPLETE = "\ufffd"


class IncrementalText:
    """Text deltas of a growing token sequence.

    Decodes a short window of recent tokens (so a word piece that changes how the previous one reads,
    or a character split across byte tokens, is only released once complete), holds back a tail that
    could be the start of a stop string, and ends the text before the first stop string.
    """

    def __init__(self, tokenizer: SharedTokenizer, stop: tuple[str, ...] = ()):
        self.tokenizer = tokenizer
        self.stop = stop
        self.ids: list[int] = []
        self.text = ""
        self.stopped = False
        self._emitted = 0
        self._prefix = 0
        self._read = 0

    def push(self, token_id: int) -> str:
        """Add one generated token; returns the text that can be released now (often empty)."""
        self.ids.append(token_id)
        before = self.tokenizer.decode(self.ids[self._prefix : self._read])
        after = self.tokenizer.decode(self.ids[self._prefix :])
        if len(after) > len(before) and not after.endswith(_INCOMPLETE):
            self.text += after[len(before) :]
            self._prefix, self._read = self._read, len(self.ids)
        return self._release(final=False)

    def flush(self) -> str:
        """The rest of the text once generation ended for another reason than a stop string."""
        rest = self.tokenizer.decode(self.ids[self._prefix :])
        before = self.tokenizer.decode(self.ids[self._prefix : self._read])
        self.text += rest[len(before) :]
        self._prefix = self._read = len(self.ids)
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        if self.stopped:
            return ""
        start = self._emitted
        cuts = [index for index in (self.text.find(stop, start) for stop in self.stop) if index >= 0]
        if cuts:
            self.stopped = True
            end = min(cuts)
        elif final:
            end = len(self.text)
        else:
            end = len(self.text) - self._stop_prefix_length(start)
        self._emitted = max(end, start)
        return self.text[start:end]

    def _stop_prefix_length(self, start: int) -> int:
        """Length of the longest unreleased tail that is the beginning of a stop string."""
        tail = self.text[start:]
        for length in range(min(len(tail), max((len(s) for s in self.stop), default=1) - 1), 0, -1):
            if any(stop.startswith(tail[-length:]) for stop in self.stop):
                return length
        return 0
