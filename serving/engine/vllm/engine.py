"""The ``vllm`` backend: a vLLM OpenAI-compatible server does the batching; this side keeps the studio's
rules (prompts, limits, label scoring, graceful drain) identical to the embedded backend.

Start vLLM with LoRA enabled and runtime adapter loading allowed::

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve <base model folder> --enable-lora --max-lora-rank 64

Each version's adapter is loaded under its name with ``POST /v1/load_lora_adapter`` (``lora_name``,
``lora_path``: the artifacts folder as the vLLM server sees it, see ``path_map``) and unloaded with
``POST /v1/unload_lora_adapter``. Requests go to ``POST /v1/completions`` with ``model=<name>`` and the
prompt as token ids rendered here, so both backends see the very same tokens; streams pass through.
"""

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.engine.admission import check_length, generation_prompt, max_tokens_for
from serving.engine.config import EngineLimits
from serving.engine.errors import (
    AdapterLoadFailed,
    BackendUnavailable,
    InvalidRequest,
    Overloaded,
    ServingError,
    UnknownAdapter,
)
from serving.engine.prompts import PromptBuilder
from serving.engine.protocol import (
    AdapterInfo,
    Chunk,
    Classification,
    ClassifyRequest,
    GenerateRequest,
    Health,
    TokenStream,
)
from serving.engine.registry import Registry
from serving.engine.scoring import classification
from serving.engine.versions import TokenizerPool, VersionFiles, base_version, read_version
from serving.engine.vllm.client import EventStream, HttpError, VllmClient, error_message

ADMIN_TIMEOUT_SECONDS = 120.0


class SchemaConstraint:
    """A JSON Schema for a remote backend to enforce; allows every token locally."""

    def __init__(self, json_schema: dict):
        self.json_schema = json_schema

    def allowed_token_mask(self, vocab_size: int):
        return None

    def advance(self, token_id: int) -> None:
        pass

    def is_complete(self) -> bool:
        return False


@dataclass(frozen=True)
class _Served:
    info: AdapterInfo
    builder: PromptBuilder
    model: str  # what vLLM calls it: the adapter's lora_name, or the base model's name


class _InFlight:
    """Requests in flight per name, bounded like the embedded engine's batch plus queue."""

    def __init__(self, limit: int, retry_after: int):
        self.limit = limit
        self.retry_after = retry_after
        self._condition = threading.Condition()
        self._counts: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def enter(self, name: str) -> None:
        with self._condition:
            if self.total >= self.limit:
                raise Overloaded(
                    f"{self.limit} requests are in flight; retry shortly", retry_after=self.retry_after
                )
            self._counts[name] += 1

    def leave(self, name: str) -> None:
        with self._condition:
            self._counts[name] -= 1
            if self._counts[name] <= 0:
                del self._counts[name]
            self._condition.notify_all()

    def wait_idle(self, name: str | None, timeout: float | None) -> bool:
        with self._condition:
            return self._condition.wait_for(
                lambda: (self._counts[name] if name else self.total) == 0, timeout=timeout
            )


class _Once:
    """Runs a release callback once, whichever of cancel, end of stream or error comes first."""

    def __init__(self, callback):
        self._callback = callback
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._callback()


class VllmEngine:
    backend = "vllm"

    def __init__(
        self,
        base_url: str,
        *,
        limits: EngineLimits | None = None,
        api_key: str | None = None,
        path_map: dict[str, str] | None = None,
        request_timeout: float = 600.0,
    ):
        """``path_map`` rewrites artifacts paths (local prefix -> prefix on the vLLM machine)."""
        self.limits = limits or EngineLimits()
        self.client = VllmClient(base_url, api_key=api_key)
        self.path_map = dict(path_map or {})
        self.request_timeout = request_timeout
        self._tokenizers = TokenizerPool()
        self._served: Registry[_Served] = Registry()
        self._admin = threading.Lock()  # one load or unload at a time
        self._in_flight = _InFlight(
            self.limits.max_batch_size + self.limits.max_queue, self.limits.retry_after_seconds
        )
        self._base: dict | None = None

    # -- the server's base model -----------------------------------------------------------------
    def _models(self) -> list[dict]:
        try:
            payload = self.client.call("GET", "/v1/models", timeout=ADMIN_TIMEOUT_SECONDS)
        except HttpError as error:
            raise BackendUnavailable(f"vLLM did not list its models ({error})") from error
        return list((payload or {}).get("data") or [])

    def _base_model(self) -> dict:
        """The model card of the server's base model (its name and ``max_model_len``)."""
        if self._base is None:
            bases = [card for card in self._models() if not card.get("parent")]
            if not bases:
                raise BackendUnavailable("the vLLM server lists no base model")
            self._base = bases[0]
        return self._base

    @property
    def context_length(self) -> int:
        return int(self._base_model().get("max_model_len") or 2048)

    # -- adapters --------------------------------------------------------------------------------
    def _remote_path(self, path: Path) -> str:
        text = str(Path(path).resolve())
        for local, remote in self.path_map.items():
            local = local.rstrip("/")
            if text == local or text.startswith(local + "/"):
                return remote.rstrip("/") + text[len(local) :]
        return text

    def load(self, name: str, artifacts_dir: Path, *, base_model: Path | None = None) -> AdapterInfo:
        files = read_version(artifacts_dir, base_model, base_weights_here=False)
        if files.kind == "full":
            raise AdapterLoadFailed(
                "a fully fine-tuned version is a whole model, not a LoRA adapter: serve it with its own "
                "vLLM server (vllm serve <artifacts folder>) or with the embedded backend"
            )
        return self._serve(name, files, lora_path=self._remote_path(files.path))

    def load_base(self, name: str, base_model: Path, *, training_config: dict | None = None) -> AdapterInfo:
        return self._serve(name, base_version(base_model, training_config), lora_path=None)

    def _serve(self, name: str, files: VersionFiles, *, lora_path: str | None) -> AdapterInfo:
        with self._admin:
            self._served.check_new(name)
            builder = self._tokenizers.builder(files)
            model = self._base_model()["id"]
            if lora_path is not None:
                self._load_lora(name, lora_path)
                model = name
            return self._served.add(name, _Served(files.info(name), builder, model))

    def _load_lora(self, name: str, lora_path: str) -> None:
        body = {"lora_name": name, "lora_path": lora_path}
        try:
            self.client.call("POST", "/v1/load_lora_adapter", body, timeout=ADMIN_TIMEOUT_SECONDS)
        except HttpError as error:
            message = error_message(error.body)
            if error.status == 400 and "already" in message:
                return  # loaded by an earlier run of this process under the same (per-version) name
            if error.status in (404, 405) and message == "Not Found":  # the route itself is missing
                raise AdapterLoadFailed(
                    "the vLLM server does not load adapters at run time: start it with --enable-lora and "
                    "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
                ) from error
            raise AdapterLoadFailed(f"vLLM refused the adapter {name!r}: {message}") from error

    def unload(self, name: str, *, timeout: float | None = None) -> None:
        with self._admin:
            served = self._served.pop(name)
            self._in_flight.wait_idle(name, timeout)
            if served.model != name:
                return  # a base model served under a name: nothing to unload on the server
            try:
                body = {"lora_name": name}
                self.client.call("POST", "/v1/unload_lora_adapter", body, timeout=ADMIN_TIMEOUT_SECONDS)
            except HttpError as error:
                if error.status != 404:  # already gone (a restarted vLLM) is what we wanted
                    raise BackendUnavailable(
                        f"vLLM did not unload {name!r}: {error_message(error.body)}"
                    ) from error

    def adapters(self) -> list[AdapterInfo]:
        return self._served.infos()

    @staticmethod
    def _refused(error: HttpError) -> ServingError:
        message = f"vLLM refused the request: {error_message(error.body)}"
        if error.status in (429, 503):
            return Overloaded(message)
        if error.status == 404:
            return UnknownAdapter(message)
        if error.status == 400:
            return InvalidRequest(message)
        return BackendUnavailable(message)

    def _deadline(self, deadline: float | None) -> float:
        limit = time.monotonic() + self.request_timeout
        return limit if deadline is None else min(deadline, limit)

    # -- requests --------------------------------------------------------------------------------
    def generate(self, request: GenerateRequest) -> TokenStream:
        served = self._served.lookup(request.adapter)
        max_tokens = max_tokens_for(request, self.limits)
        prompt_ids = generation_prompt(served.builder, request)
        check_length(prompt_ids, max_tokens, self.limits, self.context_length, request.max_input_tokens)
        body = {
            "model": served.model,
            "prompt": prompt_ids,
            "max_tokens": max_tokens,
            "stop": list(request.stop),
            "stop_token_ids": sorted(served.builder.stop_ids),
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
            "return_token_ids": True,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.constraint is not None:
            schema = getattr(request.constraint, "json_schema", None)
            if not isinstance(schema, dict):
                raise InvalidRequest("the vllm backend enforces only constraints that give a json_schema")
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            }
        self._served.admit(request.adapter, served, lambda: self._in_flight.enter(request.adapter))
        release = _Once(lambda: self._in_flight.leave(request.adapter))
        try:
            events = self.client.stream("/v1/completions", body, deadline=self._deadline(request.deadline))
        except HttpError as error:
            release()
            raise self._refused(error) from error
        except BaseException:
            release()
            raise

        def cancel() -> None:
            events.close()
            release()

        return TokenStream(_chunks(events, release), prompt_tokens=len(prompt_ids), cancel=cancel)

    def json_constraint(self, name: str, schema: dict) -> "SchemaConstraint":
        """vLLM enforces the schema itself (``response_format``): the constraint only carries it."""
        self._served.lookup(name)
        return SchemaConstraint(schema)

    def classify(self, request: ClassifyRequest) -> Classification:
        """Label scoring through vLLM's ``prompt_logprobs``: each label's answer after the prompt, summed."""
        served = self._served.lookup(request.adapter)
        sequences = served.builder.label_sequences(request.labels)
        prompt_ids = served.builder.chat_ids(request.chat())
        check_length(
            prompt_ids,
            max(len(ids) for ids in sequences.values()),
            self.limits,
            self.context_length,
            request.max_input_tokens,
        )
        labels = list(sequences)
        body = {
            "model": served.model,
            "prompt": [prompt_ids + sequences[label] for label in labels],
            "max_tokens": 1,
            "temperature": 0,
            "prompt_logprobs": 1,
        }
        self._served.admit(request.adapter, served, lambda: self._in_flight.enter(request.adapter))
        try:
            timeout = max(0.001, self._deadline(request.deadline) - time.monotonic())
            payload = self.client.call("POST", "/v1/completions", body, timeout=timeout)
        except HttpError as error:
            raise self._refused(error) from error
        finally:
            self._in_flight.leave(request.adapter)
        choices = sorted(payload.get("choices") or [], key=lambda choice: choice.get("index", 0))
        if len(choices) != len(labels):
            raise BackendUnavailable(f"vLLM scored {len(choices)} of {len(labels)} labels")
        scores = {
            label: _answer_logprob(choice.get("prompt_logprobs") or [], len(prompt_ids), sequences[label])
            for label, choice in zip(labels, choices, strict=True)
        }
        return classification(
            scores, sequences, temperature=request.temperature, prompt_tokens=len(prompt_ids)
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def health(self) -> Health:
        served = self._served.entries()
        try:
            self.client.call("GET", "/health", timeout=5.0)
            listed = {card.get("id") for card in self._models()}
            reachable, error = True, ""
        except ServingError as failure:
            listed, reachable, error = set(), False, failure.message
        except HttpError as failure:
            listed, reachable, error = set(), False, str(failure)
        missing = sorted(name for name, entry in served.items() if entry.model not in listed)
        in_flight = self._in_flight.total
        return Health(
            ready=not self._served.closed and reachable and not missing,
            backend=self.backend,
            adapters=tuple(served),
            queued=0,
            active=in_flight,
            details={"server": self.client.base_url, "error": error, "missing_on_server": missing},
        )

    def close(self, *, timeout: float | None = None) -> None:
        """Refuse new requests and wait (up to ``timeout``) for the in-flight ones; vLLM keeps running."""
        self._served.close()
        self._in_flight.wait_idle(None, timeout)


def _chunks(events: EventStream, release) -> Iterator[Chunk]:
    """vLLM's completion stream as Chunks; the finish chunk waits for the usage event to count tokens."""
    counted, finish = 0, None
    try:
        for event in events:
            if "error" in event and not event.get("choices"):
                raise BackendUnavailable(f"vLLM failed while answering: {error_message(event)}")
            usage = event.get("usage")
            for choice in event.get("choices") or []:
                tokens = len(choice.get("token_ids") or [])
                counted += tokens
                reason = choice.get("finish_reason")
                if reason in ("stop", "length"):
                    finish = Chunk(choice.get("text", ""), tokens, reason)
                elif reason is not None:
                    raise BackendUnavailable(f"vLLM ended the answer with {reason!r}")
                elif choice.get("text") or tokens:
                    yield Chunk(choice.get("text", ""), tokens)
            if usage and finish is not None:
                missing = max(0, int(usage.get("completion_tokens", counted)) - counted)
                finish = Chunk(finish.text, finish.tokens + missing, finish.finish_reason)
        if finish is None:
            raise BackendUnavailable("vLLM ended the stream without a finish reason")
        yield finish
    finally:
        release()


def _answer_logprob(prompt_logprobs: list, prompt_length: int, answer: list[int]) -> float:
    """Sum of the answer tokens' log-probabilities, read from vLLM's per-position prompt_logprobs."""
    total = 0.0
    for offset, token in enumerate(answer):
        position = prompt_length + offset
        entries = prompt_logprobs[position] if position < len(prompt_logprobs) else None
        entry = (entries or {}).get(str(token)) or (entries or {}).get(token)
        if entry is None:
            raise BackendUnavailable("vLLM did not return the log-probability of a label token")
        logprob = entry["logprob"] if isinstance(entry, dict) else entry
        total += float(logprob) if math.isfinite(float(logprob)) else -1e9
    return total
