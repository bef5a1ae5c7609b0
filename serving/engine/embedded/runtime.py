"""One copy of a base model in memory, with the LoRA adapters of several versions loaded on top of it.

Only the scheduler thread that owns a runtime calls it. Every forward pass names the adapter of each
row (PEFT's mixed-adapter batches; ``"__base__"`` rows run the bare base model), so requests for
different versions share one batch.
"""

import contextlib
import warnings
from pathlib import Path

import torch

from serving.engine.errors import AdapterLoadFailed
from training.engine.base_models import load_engine_model
from training.engine.hardware import autocast_dtype, configure, pick_device
from training.engine.inference import _autocast, _cache_in, _cache_out

BASE = "__base__"


class ModelRuntime:
    def __init__(self, path: Path, device: torch.device | None = None):
        self.path = Path(path)
        self.device = device or pick_device()
        configure(self.device)
        self.amp_dtype = autocast_dtype(self.device)
        try:
            # Held as every engine holds a model that answers, so a version answers as its evaluation did.
            base = load_engine_model(self.path, self.device)
        except (OSError, ValueError) as error:
            raise AdapterLoadFailed(f"cannot load the model at {self.path} ({error})") from error
        self.base = base.eval()
        self.model = self.base  # a PeftModel around the same weights once an adapter is loaded
        self.context_length = int(getattr(base.config, "max_position_embeddings", 2048))
        self.adapters: set[str] = set()
        self._loaded = 0
        self._check_cache_layout()

    @property
    def dtype_name(self) -> str:
        return "bf16-autocast" if self.amp_dtype == torch.bfloat16 else "fp32"

    def _check_cache_layout(self) -> None:
        """Rows join and leave a batch by editing the KV cache's per-layer tensors: full attention only."""
        from transformers.cache_utils import DynamicLayer

        one = torch.zeros((1, 1), dtype=torch.long, device=self.device)
        _, cache = self.forward(one, torch.ones_like(one), torch.zeros_like(one), None, [BASE])
        kinds = {type(layer).__name__ for layer in cache.layers if type(layer) is not DynamicLayer}
        if kinds:
            raise AdapterLoadFailed(
                f"{self.path.name} uses {', '.join(sorted(kinds))} cache layers (sliding window or "
                "recurrent state), which the embedded engine cannot batch; serve it with the vllm backend"
            )

    def add_adapter(self, path: Path) -> str:
        """Load a PEFT adapter folder next to the others; returns its name inside the model."""
        from peft import PeftModel

        self._loaded += 1
        name = f"adapter{self._loaded}"  # PEFT names become module keys: no dots, unique per load
        try:
            if self.model is self.base:
                self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name)
            else:
                self.model.load_adapter(path, adapter_name=name)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            if self.model is not self.base and name in self.model.peft_config:
                with contextlib.suppress(Exception):  # leave no half-loaded adapter behind
                    self.model.delete_adapter(name)
            raise AdapterLoadFailed(
                f"cannot load the adapter at {path} onto {self.path} ({error})"
            ) from error
        self.model.to(self.device).eval()
        self.adapters.add(name)
        return name

    def remove_adapter(self, name: str) -> None:
        self.adapters.discard(name)
        if self.adapters:
            with warnings.catch_warnings():  # "was active, now deleted": rows name their adapter anyway
                warnings.simplefilter("ignore", UserWarning)
                self.model.delete_adapter(name)
        else:  # PEFT cannot run with no adapter left: take its layers out, keep the base weights
            self.model = self.model.unload()
            self.base = self.model

    @torch.no_grad()
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache,
        adapters: list[str],
        *,
        logits_to_keep: int = 1,
    ):
        """Logits (fp32) of the last ``logits_to_keep`` positions (0: all) and the updated KV cache."""
        extra = {} if cache is None else _cache_in(self.model, cache)
        only = adapters[0] if len(set(adapters)) == 1 else None
        if self.model is self.base:
            scope = contextlib.nullcontext()
        elif only == BASE:
            scope = self.model.disable_adapter()
        elif only is not None:
            # One adapter for every row: run it as the active adapter, without the per-layer gather and
            # scatter of a mixed batch (same arithmetic, same results).
            if self.model.active_adapter != only:
                self.model.set_adapter(only)
            scope = contextlib.nullcontext()
        else:
            scope = contextlib.nullcontext()
            extra["adapter_names"] = adapters
        with scope, _autocast(self.device):
            output = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                position_ids=position_ids.to(self.device),
                use_cache=True,
                logits_to_keep=logits_to_keep,
                **extra,
            )
        return output.logits.float(), _cache_out(output)
