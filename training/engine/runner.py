"""The training loop: LoRA (or full) fine-tuning with answer-only loss, evaluation, checkpoints, resume."""

import contextlib
import hashlib
import json
import math
import os
import random
import resource
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from training.engine import checkpoint as ckpt
from training.engine import cores
from training.engine.base_models import CachedModel, load_engine_model, load_tokenizer, sha256_file
from training.engine.config import Hyperparameters
from training.engine.data import (
    IGNORE_INDEX,
    Batch,
    Example,
    LengthGroupedBatches,
    PromptFormat,
    collate,
    encode_rows,
    sequential_batches,
)
from training.engine.errors import TrainingCancelled, TrainingFailed, is_out_of_memory
from training.engine.hardware import (
    attention_implementation,
    autocast_dtype,
    configure,
    detect,
    number_format,
    pick_device,
)
from training.engine.inference import (
    TRAINING_CONFIG_FILE,
    LabelTrie,
    greedy_decode,
    predict_labels,
)
from training.engine.lora import fuse_adapter_path
from training.engine.packing import PackedBatch, pack, packable, packed_hidden_states

ENGINE_VERSION = "1"
MIN_SHARED_PREFIX = 4


class Reporter(Protocol):
    """How the run talks to its caller (the Django side throttles what it writes)."""

    def progress(
        self,
        *,
        step: int,
        total_steps: int,
        epoch: float,
        train_loss: float,
        learning_rate: float,
        tokens_per_second: float,
        eta_seconds: float,
    ) -> None: ...

    def evaluation(self, *, step: int, val_loss: float, metrics: dict) -> None: ...

    def event(self, level: str, message: str, data: dict | None = None) -> None: ...

    def checkpoint(self, *, step: int, path: Path) -> None: ...

    def should_stop(self) -> bool: ...


class NullReporter:
    """A reporter that records nothing and never stops (scripts and tests)."""

    def progress(self, **kwargs) -> None:
        pass

    def evaluation(self, **kwargs) -> None:
        pass

    def event(self, level: str, message: str, data: dict | None = None) -> None:
        pass

    def checkpoint(self, **kwargs) -> None:
        pass

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainingResult:
    output_dir: Path
    artifacts: list[dict]
    metrics: dict
    steps: int
    epochs: float
    trained_tokens: int
    duration_seconds: float
    hardware: dict
    peak_memory_bytes: int
    # Tokens actually run through the model: a prompt prefix shared by a batch counts once per batch
    # (trained_tokens counts every example's non-padding tokens in full).
    computed_tokens: int = 0
    # Seconds spent in optimizer steps (no model loading, evaluation or saving): throughput = tokens / this.
    train_seconds: float = 0.0
    events: list[dict] = field(default_factory=list)


@dataclass
class _Progress:
    """Where a run stands; all but `resumed_from` is saved in each checkpoint and restored on resume."""

    step: int = 0
    epoch: int = 0
    position: int = 0
    trained_tokens: int = 0
    computed_tokens: int = 0
    previous_seconds: float = 0.0
    best: dict = field(
        default_factory=lambda: {
            "val_loss": math.inf,
            "metrics": {},
            "step": 0,
            "state": None,
            "bad_evals": 0,
        }
    )
    history: list[dict] = field(default_factory=list)
    resumed_from: int = 0


@dataclass
class _Session:
    """This process's share of the run (a resumed run starts a new session): for tokens/s and ETA."""

    started: float
    tokens: int = 0
    train_seconds: float = 0.0


def run_training(
    *,
    work_dir: Path,
    base_model: CachedModel | Path,
    train_rows: list[dict],
    val_rows: list[dict],
    instructions: str,
    task_type: Literal["classification", "extraction", "generation"],
    labels: list[str] | None,
    hyperparameters: Hyperparameters,
    reporter: Reporter,
) -> TrainingResult:
    """Fine-tune ``base_model`` on the rows; resume from ``work_dir/checkpoints`` when one is there.

    Raises TrainingCancelled when ``reporter.should_stop()`` turns true (checked every optimizer step)
    and TrainingFailed(reason_plain, hint) for known failures (out of memory, unusable data or model).
    """
    run = _Run(
        work_dir=Path(work_dir),
        base_model=base_model,
        train_rows=train_rows,
        val_rows=val_rows,
        instructions=instructions,
        task_type=task_type,
        labels=labels,
        hp=hyperparameters,
        reporter=reporter,
    )
    try:
        return run.execute()
    except (TrainingCancelled, TrainingFailed):
        raise
    except Exception as error:
        if is_out_of_memory(error):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise TrainingFailed(
                "Out of memory", "lower the batch size or the max sequence length"
            ) from error
        raise


def _check_rows(rows: list[dict], name: str) -> None:
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "input" not in row or "output" not in row:
            raise TrainingFailed(
                f"Row {number} of the {name} set has no input/output", "every row needs 'input' and 'output'"
            )


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class _Run:
    def __init__(
        self, *, work_dir, base_model, train_rows, val_rows, instructions, task_type, labels, hp, reporter
    ):
        self.work_dir = work_dir
        self.base_model = base_model
        self.train_rows = list(train_rows)
        self.val_rows = list(val_rows or [])
        self.instructions = instructions or ""
        self.task_type = task_type
        self.labels = labels
        self.hp: Hyperparameters = hp
        self.reporter = reporter
        self.events: list[dict] = []

    # -- helpers -------------------------------------------------------------------------------------
    def event(self, level: str, message: str, data: dict | None = None) -> None:
        self.events.append({"level": level, "message": message, "data": data or {}})
        self.reporter.event(level, message, data)

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- setup ---------------------------------------------------------------------------------------
    def setup(self) -> None:
        if not self.train_rows:
            raise TrainingFailed("The training set is empty", "add examples to the dataset's train split")
        if self.task_type not in ("classification", "extraction", "generation"):
            raise TrainingFailed(
                f"Unknown task type {self.task_type!r}", "use classification, extraction or generation"
            )
        _check_rows(self.train_rows, "training")
        _check_rows(self.val_rows, "validation")
        if self.task_type == "classification" and not self.labels:
            self.labels = sorted({str(row["output"]) for row in self.train_rows})

        self.device = pick_device()
        configure(self.device)
        self.amp_dtype = autocast_dtype(self.device)
        random.seed(self.hp.seed)
        np.random.seed(self.hp.seed)
        torch.manual_seed(self.hp.seed)

        self.base_path = (
            self.base_model.path if isinstance(self.base_model, CachedModel) else Path(self.base_model)
        )
        if not (self.base_path / "config.json").is_file():
            raise TrainingFailed(
                "The base model is not available on this worker",
                f"expected a model folder at {self.base_path}",
            )
        self.tokenizer = load_tokenizer(self.base_path)
        self.format = PromptFormat(self.tokenizer, self.instructions)
        self.train_examples = encode_rows(self.format, self.train_rows, self.hp.max_seq_length)
        self.val_examples = encode_rows(self.format, self.val_rows, self.hp.max_seq_length)
        truncated = sum(example.truncated for example in self.train_examples)
        if truncated:
            self.event(
                "warning",
                f"{truncated} training examples were over {self.hp.max_seq_length} tokens and were cut",
                {"truncated": truncated},
            )
        self.trie = None
        if self.task_type == "classification":
            self.trie = LabelTrie({label: self.format.answer_ids(label) for label in self.labels})

        self.model = self.load_model()
        longest = max(len(example) for example in self.train_examples + self.val_examples)
        self.packed = packable(self.causal_lm().config, longest)
        self.prefix = []
        if self.packed:
            prefix = _shared_prefix(self.train_examples + self.val_examples)
            if len(prefix) >= MIN_SHARED_PREFIX:
                self.train_examples = [_drop_prefix(example, len(prefix)) for example in self.train_examples]
                self.val_examples = [_drop_prefix(example, len(prefix)) for example in self.val_examples]
                self.prefix = prefix
        self.prefix_length = len(self.prefix)
        trainable = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.trainable_parameters = sum(parameter.numel() for parameter in trainable)
        self.total_parameters = sum(parameter.numel() for parameter in self.model.parameters())
        self.optimizer = torch.optim.AdamW(
            trainable,
            lr=self.hp.learning_rate,
            weight_decay=self.hp.weight_decay,
            fused=self.device.type == "cuda",
        )
        self.batches = LengthGroupedBatches(
            [len(ex) for ex in self.train_examples], self.hp.batch_size, self.hp.seed
        )
        self.total_steps = self.hp.total_steps(len(self.batches))
        self.steps_per_epoch = math.ceil(len(self.batches) / self.hp.gradient_accumulation_steps)
        from transformers import get_scheduler

        scheduler = {"constant": "constant_with_warmup"}.get(self.hp.lr_scheduler, self.hp.lr_scheduler)
        self.scheduler = get_scheduler(
            scheduler,
            self.optimizer,
            num_warmup_steps=math.ceil(self.hp.warmup_ratio * self.total_steps),
            num_training_steps=self.total_steps,
        )
        weights_id = (
            self.base_model.weights_checksum
            if isinstance(self.base_model, CachedModel)
            else str(self.base_path)
        )
        self.fingerprint = _fingerprint(
            ENGINE_VERSION,
            self.hp.model_dump(mode="json"),
            weights_id,
            self.instructions,
            self.task_type,
            self.labels,
            self.train_rows,
        )

    def load_model(self):
        lora = self.hp.method == "lora"
        model = load_engine_model(self.base_path, self.device, method=self.hp.method, training=True)
        model.config.use_cache = False
        if lora:
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                task_type="CAUSAL_LM",
                r=self.hp.lora_r,
                lora_alpha=self.hp.lora_alpha,
                lora_dropout=0.0,  # applied to A's output by the fused adapter path (engine.lora)
                target_modules=self.hp.lora_target_modules,
                bias="none",
            )
            try:
                model = get_peft_model(model, config)
            except ValueError as error:
                raise TrainingFailed(
                    "The LoRA target modules do not match this model",
                    "use 'all-linear' or existing module names",
                ) from error
            fuse_adapter_path(model, self.hp.lora_dropout)
        else:
            for parameter in model.parameters():
                parameter.requires_grad_(True)
        model.train()
        return model

    # -- loss ----------------------------------------------------------------------------------------
    def causal_lm(self):
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    def batch_of(self, examples: list[Example]) -> PackedBatch | Batch:
        """The examples as the model runs them: packed behind the shared prefix, or whole and padded."""
        if self.packed:
            return pack(examples, self.prefix).to(self.device)
        return collate(examples, self.tokenizer.pad_token_id).to(self.device)

    def answer_loss_sum(self, batch: PackedBatch | Batch, *, label_smoothing: float = 0.0) -> torch.Tensor:
        """Summed cross-entropy over answer tokens; logits are computed only at those positions.

        ``label_smoothing`` (training only: validation loss is the plain cross-entropy) moves that share of
        each target's probability onto the whole vocabulary, so the adapter stops short of certainty.

        A packed batch (``engine.packing``) runs the shared prefix and every example's tokens through each
        layer as one product; models that cannot be packed run their examples whole.
        """
        lm = self.causal_lm()
        if isinstance(batch, PackedBatch):
            embeddings = self.input_embeddings(batch.input_ids, batch.sequence_lengths)
            hidden = packed_hidden_states(lm.get_decoder(), embeddings, batch)
            selected = batch.targets != IGNORE_INDEX
            logits = lm.get_output_embeddings()(hidden[selected])
            return _cross_entropy_sum(logits, batch.targets[selected], label_smoothing)
        targets = batch.labels[:, 1:]
        selected = targets != IGNORE_INDEX
        embeddings = self.input_embeddings(batch.input_ids, torch.tensor(float(batch.input_ids.shape[1])))
        if getattr(lm.config, "final_logit_softcapping", None):
            logits = self.model(inputs_embeds=embeddings, attention_mask=batch.attention_mask).logits[:, :-1]
            return _cross_entropy_sum(logits[selected], targets[selected], label_smoothing)
        hidden = lm.get_decoder()(inputs_embeds=embeddings, attention_mask=batch.attention_mask)
        logits = lm.get_output_embeddings()(hidden.last_hidden_state[:, :-1][selected])
        return _cross_entropy_sum(logits, targets[selected], label_smoothing)

    def input_embeddings(self, input_ids: torch.Tensor, sequence_lengths: torch.Tensor) -> torch.Tensor:
        """The token embeddings, with NEFTune's noise (Jain et al., 2023) while training: uniform, of
        magnitude ``embedding_noise / sqrt(length x width)`` for a token of a pass of that length (the
        shared prefix counts as a pass of its own, each example as one). A few examples per label are learnt
        by heart within a few epochs; the noise makes each pass see them slightly differently. Evaluation
        and every answer see none."""
        embeddings = self.causal_lm().get_input_embeddings()(input_ids)
        alpha = self.hp.embedding_noise
        if not self.model.training or alpha <= 0:
            return embeddings
        magnitude = alpha / torch.sqrt(sequence_lengths * embeddings.shape[-1])
        noise = torch.empty_like(embeddings).uniform_(-1, 1) * magnitude.to(embeddings.dtype)
        return embeddings + noise

    # -- evaluation ----------------------------------------------------------------------------------
    def switch_to(self, *, training: bool) -> None:
        """Train mode with training's attention kernel, or eval mode with the one every answer uses
        (``attention_implementation``): the run's own evaluation answers as serving will."""
        self.model.train(training)
        kernel = attention_implementation(self.amp_dtype, self.device, training=training)
        if self.causal_lm().config._attn_implementation != kernel:
            self.causal_lm().set_attn_implementation(kernel)

    @torch.no_grad()
    def evaluate(self) -> tuple[float, dict]:
        cores.rebalance()
        self.switch_to(training=False)
        try:
            total, tokens = 0.0, 0
            lengths = [len(example) for example in self.val_examples]
            for indices in sequential_batches(lengths, self.hp.batch_size * 2):
                batch = self.batch_of([self.val_examples[i] for i in indices])
                with self.autocast():
                    total += self.answer_loss_sum(batch).item()
                tokens += batch.answer_tokens
            val_loss = total / max(tokens, 1)
            metrics: dict = {"val_examples": len(self.val_rows)}
            inputs = [str(row["input"]) for row in self.val_rows]
            gold = [str(row["output"]) for row in self.val_rows]
            if self.task_type == "classification":
                predicted = predict_labels(self.model, self.format, inputs, self.trie)
                metrics["accuracy"] = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
            elif self.task_type == "extraction":
                longest = max(len(self.format.answer_ids(str(row["output"]))) for row in self.train_rows)
                generated = greedy_decode(
                    self.model,
                    [self.format.prompt_ids(text) for text in inputs],
                    pad_id=self.tokenizer.pad_token_id,
                    stop_ids=self.format.stop_ids,
                    max_new_tokens=min(512, int(longest * 1.5) + 8),
                )
                answers = [self.format.decode_answer(ids) for ids in generated]
                metrics["exact_match"] = sum(
                    _json_equal(a, g) for a, g in zip(answers, gold, strict=True)
                ) / len(gold)
            return val_loss, metrics
        finally:
            self.switch_to(training=True)

    # -- checkpoint ----------------------------------------------------------------------------------
    def try_resume(self) -> dict | None:
        latest = ckpt.latest_checkpoint(self.checkpoint_dir)
        if latest is None:
            return None
        weights, state = ckpt.load_checkpoint(latest)
        if state.get("fingerprint") != self.fingerprint:
            self.event(
                "warning",
                "The checkpoint in the work folder belongs to a different configuration; starting over",
                {"checkpoint": str(latest)},
            )
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
            return None
        ckpt.load_trainable_state(self.model, weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        ckpt.restore_rng_states(state["rng"])
        self.event("info", f"resumed from checkpoint at step {state['step']}", {"step": state["step"]})
        return state

    # -- main loop -----------------------------------------------------------------------------------
    def execute(self) -> TrainingResult:
        started = time.perf_counter()
        self.prepare()
        progress = self.start_or_resume()
        plan = self.batches.plan(progress.epoch)
        recent_losses: deque[float] = deque(maxlen=max(1, self.steps_per_epoch))
        session = _Session(started=time.perf_counter())
        last_eval_step, stopped_early = -1, False

        while progress.step < self.total_steps:
            if self.reporter.should_stop():
                self.event("info", f"cancelled at step {progress.step}", {"step": progress.step})
                raise TrainingCancelled(f"cancelled at step {progress.step}")
            if progress.position >= len(plan):
                progress.epoch, progress.position = progress.epoch + 1, 0
                plan = self.batches.plan(progress.epoch)
            step_loss = self.train_step(progress, plan, session)
            recent_losses.append(step_loss)
            progress.history.append({"step": progress.step, "loss": step_loss})
            self.report_progress(progress, plan, session, step_loss)

            if (
                self.val_rows
                and self.hp.eval_interval_steps
                and progress.step % self.hp.eval_interval_steps == 0
            ):
                last_eval_step = progress.step
                stopped_early = self.record_evaluation(progress.step, progress.best)
            if (
                progress.step % self.hp.checkpoint_interval_steps == 0
                and progress.step < self.total_steps
                and not stopped_early
            ):
                self.save_checkpoint(progress, started)
            if stopped_early:
                self.event(
                    "info",
                    f"early stopping at step {progress.step}: validation loss has not improved for "
                    f"{self.hp.early_stopping_patience} evaluations",
                    {"step": progress.step, "best_step": progress.best["step"]},
                )
                break

        metrics = self.final_metrics(
            progress, recent_losses, evaluated=last_eval_step == progress.step or stopped_early
        )
        self.switch_to(training=False)  # what is left in memory answers as its saved version will
        output_dir, artifacts = self.save_output(metrics, progress.step)
        return TrainingResult(
            output_dir=output_dir,
            artifacts=artifacts,
            metrics=metrics,
            steps=progress.step,
            epochs=round(progress.epoch + progress.position / max(1, len(plan)), 4),
            trained_tokens=progress.trained_tokens,
            computed_tokens=progress.computed_tokens,
            train_seconds=session.train_seconds,
            duration_seconds=progress.previous_seconds + time.perf_counter() - started,
            hardware=self.hardware(),
            peak_memory_bytes=self.peak_memory(),
            events=self.events,
        )

    def prepare(self) -> None:
        """Load data, tokenizer and model (`setup`) and make the work folder."""
        self.setup()
        self.checkpoint_dir = self.work_dir / "checkpoints"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def start_or_resume(self) -> _Progress:
        """The progress saved in the work folder's latest checkpoint, or a fresh start (announced)."""
        state = self.try_resume()
        if state is not None:
            return _Progress(
                step=state["step"],
                epoch=state["epoch"],
                position=state["position"],
                trained_tokens=state["trained_tokens"],
                computed_tokens=state["computed_tokens"],
                previous_seconds=state["elapsed_seconds"],
                best=state["best"],
                history=state["history"],
                resumed_from=state["step"],
            )
        self.event(
            "info",
            f"training {self.trainable_parameters:,} of {self.total_parameters:,} parameters "
            f"for {self.total_steps} steps on {self.device.type}",
            {"total_steps": self.total_steps, "examples": len(self.train_examples)},
        )
        return _Progress()

    def train_step(self, progress: _Progress, plan: list, session: _Session) -> float:
        """One optimizer step over the next `gradient_accumulation_steps` batches of the plan; its loss."""
        cores.rebalance()  # another ML process on this host may have started or ended since the last step
        step_started = time.perf_counter()
        group = plan[progress.position : progress.position + self.hp.gradient_accumulation_steps]
        progress.position += len(group)
        batches = [self.batch_of([self.train_examples[i] for i in indices]) for indices in group]
        answer_tokens = sum(batch.answer_tokens for batch in batches)
        step_loss = 0.0
        for batch in batches:
            with self.autocast():
                loss = self.answer_loss_sum(batch, label_smoothing=self.hp.label_smoothing)
                loss = loss / max(answer_tokens, 1)
            loss.backward()
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], max_norm=1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        progress.step += 1
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        session.train_seconds += time.perf_counter() - step_started
        rows = sum(len(indices) for indices in group)
        real_tokens = sum(batch.real_tokens for batch in batches) + self.prefix_length * rows
        progress.trained_tokens += real_tokens
        progress.computed_tokens += sum(batch.real_tokens + self.prefix_length for batch in batches)
        session.tokens += real_tokens
        return step_loss

    def report_progress(self, progress: _Progress, plan: list, session: _Session, step_loss: float) -> None:
        """Every step: the caller throttles what it stores."""
        elapsed = time.perf_counter() - session.started
        seconds_per_step = elapsed / max(1, progress.step - progress.resumed_from)
        self.reporter.progress(
            step=progress.step,
            total_steps=self.total_steps,
            epoch=progress.epoch + progress.position / max(1, len(plan)),
            train_loss=step_loss,
            learning_rate=self.scheduler.get_last_lr()[0],
            tokens_per_second=session.tokens / max(elapsed, 1e-9),
            eta_seconds=seconds_per_step * (self.total_steps - progress.step),
        )

    def save_checkpoint(self, progress: _Progress, started: float) -> None:
        path = ckpt.save_checkpoint(
            self.checkpoint_dir,
            step=progress.step,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            state={
                "epoch": progress.epoch,
                "position": progress.position,
                "trained_tokens": progress.trained_tokens,
                "computed_tokens": progress.computed_tokens,
                "elapsed_seconds": progress.previous_seconds + time.perf_counter() - started,
                "best": progress.best,
                "history": progress.history,
                "fingerprint": self.fingerprint,
            },
        )
        self.reporter.checkpoint(step=progress.step, path=path)

    def final_metrics(self, progress: _Progress, recent_losses: deque, *, evaluated: bool) -> dict:
        """The run's metrics; with validation data, the final step is evaluated (unless it just was) and
        the weights of the best validation loss are kept."""
        metrics: dict = {"train_loss": float(np.mean(recent_losses)) if recent_losses else None}
        if not self.val_rows:
            return metrics
        best = progress.best
        if not evaluated:
            self.record_evaluation(progress.step, best)
        if best["state"] is not None and best["step"] != progress.step:
            ckpt.load_trainable_state(self.model, best["state"])
            self.event("info", f"kept the weights of step {best['step']}, the best validation loss")
        metrics.update({"val_loss": best["val_loss"], **best["metrics"]})
        return metrics

    def record_evaluation(self, step: int, best: dict) -> bool:
        """Evaluate, report, track the best weights; True when early stopping should end the run."""
        val_loss, metrics = self.evaluate()
        self.reporter.evaluation(step=step, val_loss=val_loss, metrics=metrics)
        if val_loss < best["val_loss"] - 1e-6:
            best.update(val_loss=val_loss, metrics=metrics, step=step, bad_evals=0)
            best["state"] = ckpt.trainable_state(self.model) if self.hp.method == "lora" else None
            return False
        best["bad_evals"] += 1
        patience = self.hp.early_stopping_patience
        return patience is not None and best["bad_evals"] >= patience

    # -- output --------------------------------------------------------------------------------------
    def save_output(self, metrics: dict, step: int) -> tuple[Path, list[dict]]:
        output_dir = self.work_dir / "output"
        staging = self.work_dir / f".output-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        self.model.save_pretrained(staging, safe_serialization=True)
        self.tokenizer.save_pretrained(staging)
        base = (
            self.base_model.as_dict()
            if isinstance(self.base_model, CachedModel)
            else {"path": str(self.base_path)}
        )
        training_config = {
            "engine_version": ENGINE_VERSION,
            "task_type": self.task_type,
            "labels": self.labels,
            "instructions": self.instructions,
            "hyperparameters": self.hp.model_dump(mode="json"),
            "base_model": base,
            "steps": step,
            "metrics": metrics,
            "prompt": {
                "answer_suffix_ids": self.format.end_ids,
                "chat_template": bool(self.tokenizer.chat_template),
            },
        }
        (staging / TRAINING_CONFIG_FILE).write_text(json.dumps(training_config, indent=2))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
        artifacts = [
            {
                "path": str(file.relative_to(output_dir)),
                "size": file.stat().st_size,
                "sha256": sha256_file(file),
            }
            for file in sorted(output_dir.rglob("*"))
            if file.is_file()
        ]
        return output_dir, artifacts

    def hardware(self) -> dict:
        info = detect()
        return {
            "device": info["device"],
            "name": info["name"],
            "threads": torch.get_num_threads(),
            **number_format(self.device),
        }

    def peak_memory(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated())
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _cross_entropy_sum(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(
        logits.float(), targets, reduction="sum", label_smoothing=label_smoothing
    )


def _shared_prefix(examples: list[Example]) -> list[int]:
    """Longest token prefix common to every example that stays inside each prompt (before the answer)."""
    if not examples:
        return []

    def answer_start(example: Example) -> int:
        return next((i for i, label in enumerate(example.labels) if label != IGNORE_INDEX), len(example))

    first = examples[0].input_ids
    # Keep at least one prompt token per example: the position that predicts the first answer token.
    limit = min(answer_start(example) for example in examples) - 1
    length = 0
    while length < limit and all(example.input_ids[length] == first[length] for example in examples):
        length += 1
    return first[:length]


def _drop_prefix(example: Example, length: int) -> Example:
    return Example(example.input_ids[length:], example.labels[length:], example.truncated)


def _json_equal(predicted: str, gold: str) -> bool:
    try:
        return json.loads(predicted) == json.loads(gold)
    except (ValueError, TypeError):
        return predicted.strip() == gold.strip()


__all__ = ["NullReporter", "Reporter", "TrainingResult", "run_training"]
