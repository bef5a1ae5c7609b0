"""The ``embedded`` backend: models in this process (CPU or one GPU), batched by a scheduler per model.

Versions of one base model share a single copy of it (their LoRA adapters sit side by side on it);
a full fine-tune gets its own. Request threads tokenize and check limits themselves, then hand the
request to the model's scheduler and read the answer from its queue.
"""

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from serving.engine.admission import check_length, generation_prompt, max_tokens_for
from serving.engine.config import EngineLimits
from serving.engine.embedded.runtime import BASE, ModelRuntime
from serving.engine.embedded.scheduler import Scheduler
from serving.engine.embedded.work import GenerationWork, LabelWork
from serving.engine.errors import InvalidRequest
from serving.engine.prompts import PromptBuilder
from serving.engine.protocol import (
    AdapterInfo,
    Classification,
    ClassifyRequest,
    Constraint,
    GenerateRequest,
    Health,
    TokenStream,
)
from serving.engine.registry import Registry
from serving.engine.text import IncrementalText
from serving.engine.versions import TokenizerPool, VersionFiles, base_version, read_version

MAX_GRAMMARS = 64  # compiled JSON Schemas kept (one per extraction endpoint's version)


@dataclass(frozen=True)
class _Served:
    info: AdapterInfo
    builder: PromptBuilder
    scheduler: Scheduler
    weights: str  # the key of the scheduler in EmbeddedEngine._schedulers
    adapter: str  # the adapter's name inside the model, or BASE


class EmbeddedEngine:
    backend = "embedded"

    def __init__(self, *, limits: EngineLimits | None = None, device: str | None = None):
        self.limits = limits or EngineLimits()
        self.device = torch.device(device) if device else None
        self._tokenizers = TokenizerPool()
        self._schedulers: dict[str, Scheduler] = {}  # by the weights' folder
        self._served: Registry[_Served] = Registry()
        self._admin = threading.Lock()  # one load or unload at a time
        self._grammars: dict[tuple[str, str], object] = {}  # (name, schema) -> JsonSchemaGrammar
        self._grammars_lock = threading.Lock()

    # -- adapters --------------------------------------------------------------------------------
    def load(self, name: str, artifacts_dir: Path, *, base_model: Path | None = None) -> AdapterInfo:
        return self._serve(name, read_version(artifacts_dir, base_model))

    def load_base(self, name: str, base_model: Path, *, training_config: dict | None = None) -> AdapterInfo:
        return self._serve(name, base_version(base_model, training_config))

    def _serve(self, name: str, files: VersionFiles) -> AdapterInfo:
        with self._admin:
            self._served.check_new(name)
            builder = self._tokenizers.builder(files)
            weights = str((files.path if files.kind == "full" else files.base_path).resolve())
            if weights not in self._schedulers:
                self._schedulers[weights] = Scheduler(ModelRuntime(Path(weights), self.device), self.limits)
            scheduler = self._schedulers[weights]
            adapter = BASE
            try:
                if files.kind == "lora":
                    adapter = scheduler.call(lambda: scheduler.runtime.add_adapter(files.path)).result()
            except Exception:
                self._close_unused(weights)
                raise
            return self._served.add(name, _Served(files.info(name), builder, scheduler, weights, adapter))

    def unload(self, name: str, *, timeout: float | None = None) -> None:
        with self._admin:
            served = self._served.pop(name)
            if served.adapter != BASE:
                served.scheduler.remove_adapter_when_idle(served.adapter).result(timeout)
            self._close_unused(served.weights, timeout)

    def _close_unused(self, weights: str, timeout: float | None = None) -> None:
        """Free a model once no loaded name uses it."""
        if not any(other.weights == weights for other in self._served.entries().values()):
            self._schedulers.pop(weights).close(timeout)

    def adapters(self) -> list[AdapterInfo]:
        return self._served.infos()

    # -- requests --------------------------------------------------------------------------------
    def generate(self, request: GenerateRequest) -> TokenStream:
        served = self._served.lookup(request.adapter)
        max_tokens = max_tokens_for(request, self.limits)
        prompt_ids = generation_prompt(served.builder, request)
        check_length(
            prompt_ids,
            max_tokens,
            self.limits,
            served.scheduler.runtime.context_length,
            request.max_input_tokens,
        )
        work = GenerationWork(
            served.adapter,
            prompt_ids,
            request.deadline,
            max_tokens=max_tokens,
            stop_ids=served.builder.stop_ids,
            text=IncrementalText(served.builder.tokenizer, request.stop),
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            constraint=request.constraint,
        )
        self._served.admit(request.adapter, served, lambda: served.scheduler.submit(work))
        chunks = work.results(lambda: served.scheduler.alive)
        return TokenStream(chunks, prompt_tokens=len(prompt_ids), cancel=work.cancel)

    def classify(self, request: ClassifyRequest) -> Classification:
        served = self._served.lookup(request.adapter)
        sequences = served.builder.label_sequences(request.labels)
        prompt_ids = served.builder.chat_ids(request.chat())
        longest = max(len(ids) for ids in sequences.values())
        check_length(
            prompt_ids,
            longest,
            self.limits,
            served.scheduler.runtime.context_length,
            request.max_input_tokens,
        )
        work = LabelWork(
            served.adapter, prompt_ids, request.deadline, sequences=sequences, temperature=request.temperature
        )
        self._served.admit(request.adapter, served, lambda: served.scheduler.submit(work))
        try:
            [result] = work.results(lambda: served.scheduler.alive)
        finally:
            work.cancel()
        return result

    def json_constraint(self, name: str, schema: dict) -> Constraint:
        served = self._served.lookup(name)
        key = (name, json.dumps(schema, sort_keys=True))
        with self._grammars_lock:
            grammar = self._grammars.get(key)
        if grammar is None:
            from training.engine.constrained import JsonSchemaGrammar, SchemaUnsupported

            shared = served.builder.tokenizer
            vocab_size = served.scheduler.runtime.model.get_output_embeddings().weight.shape[0]
            try:
                with shared.lock:
                    grammar = JsonSchemaGrammar(
                        shared.tokenizer, schema, stop_ids=set(served.builder.stop_ids), vocab_size=vocab_size
                    )
            except SchemaUnsupported as error:
                raise InvalidRequest(f"the output schema cannot be enforced: {error}") from error
            with self._grammars_lock:
                if len(self._grammars) >= MAX_GRAMMARS:
                    self._grammars.pop(next(iter(self._grammars)))
                self._grammars[key] = grammar
        return grammar.constraint()

    # -- lifecycle -------------------------------------------------------------------------------
    def health(self) -> Health:
        names = tuple(self._served.entries())
        schedulers = dict(self._schedulers)
        models = {
            key: {
                "device": str(scheduler.runtime.device),
                "dtype": scheduler.runtime.dtype_name,
                "queued": scheduler.queued,
                "active": scheduler.active,
                "batching": scheduler.stats_dict(),
            }
            for key, scheduler in schedulers.items()
        }
        return Health(
            ready=not self._served.closed and all(scheduler.alive for scheduler in schedulers.values()),
            backend=self.backend,
            adapters=names,
            queued=sum(scheduler.queued for scheduler in schedulers.values()),
            active=sum(scheduler.active for scheduler in schedulers.values()),
            details={"models": models, "limits": self.limits.model_dump()},
        )

    def close(self, *, timeout: float | None = None) -> None:
        self._served.close()
        with self._admin:
            for scheduler in self._schedulers.values():
                scheduler.close(timeout)
            self._schedulers.clear()
            self._served.clear()
