"""What this worker runs on: device detection, number format, thread setup and a matmul FLOP/s probe."""

import functools
import os
import platform
import time

import torch

from training.engine import cores

# auto (the default): bf16 autocast where the hardware runs it faster, fp32 elsewhere; bf16 or fp32 force it.
DTYPE_ENV = "STUDIO_ML_DTYPE"
DTYPE_CHOICES = ("auto", "bf16", "fp32")
# CPU features that multiply bf16 natively; without them (AVX2 only) bf16 is emulated and slower than fp32.
FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def configure(device: torch.device) -> None:
    """On CPU, this process's share of the host's cores (every core without a claim, see ``cores``);
    allow TF32 matmuls on CUDA (Ampere and later)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif cores.rebalance() is None:
        torch.set_num_threads(os.cpu_count() or 1)


@functools.cache  # read once per process: every prediction call asks for the number format
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX (read from /proc/cpuinfo, else asked of torch)."""
    flags = _cpu_flags()
    if flags:
        return bool(flags & FAST_BF16_CPU_FLAGS)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def dtype_setting() -> str:
    """The operator's choice in STUDIO_ML_DTYPE (auto when unset); any other value is a plain error."""
    value = os.environ.get(DTYPE_ENV, "").strip().lower() or "auto"
    if value not in DTYPE_CHOICES:
        raise ValueError(f"{DTYPE_ENV} must be one of {', '.join(DTYPE_CHOICES)}, not {value!r}")
    return value


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast where the hardware runs it faster (or where STUDIO_ML_DTYPE=bf16); None means fp32.

    Forcing bf16 works on every CPU (slowly where it is emulated) but not on a GPU without bf16.
    """
    setting = dtype_setting()
    if setting == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if setting == "bf16" or cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def frozen_weights_dtype(amp_dtype: torch.dtype | None, method: str) -> torch.dtype:
    """Frozen base weights of a LoRA run live in the autocast dtype (no cast per matmul, half the
    memory); trained weights, optimizer state and the loss stay fp32 (PEFT keeps adapters fp32)."""
    return torch.bfloat16 if (method == "lora" and amp_dtype == torch.bfloat16) else torch.float32


def attention_implementation(
    amp_dtype: torch.dtype | None, device: torch.device, *, training: bool = False
) -> str:
    """SDPA, except for bf16 training on CPU: eager attention.

    torch's CPU flash-attention kernel (what SDPA picks) runs bf16 training slower than fp32: measured on a
    Xeon with AMX, forward+backward of SmolLM2's attention on a batch of 16 short examples took 2x the CPU
    time of fp32, a fifth of a whole bf16 training step. Eager attention (two batched matmuls, softmax in
    fp32) takes a third of that in bf16. Answering is the other way round: the embedded serving engine
    made 16-24 % fewer free-text tokens/s with eager attention in bf16 (``serving_engine.py``, AMD EPYC with
    avx512_bf16). Every answer (evaluation inside a run, reloaded versions, the baseline, serving) goes
    through SDPA, so a version answers alike wherever it runs; only training's own passes attend eagerly.
    """
    eager = training and device.type == "cpu" and amp_dtype == torch.bfloat16
    return "eager" if eager else "sdpa"


def number_format(device: torch.device) -> dict:
    """What the lineage records: the dtype the model runs in and what chose it."""
    amp = autocast_dtype(device)
    return {
        "dtype": "bf16-autocast" if amp == torch.bfloat16 else "fp32",
        "dtype_chosen_by": DTYPE_ENV if dtype_setting() != "auto" else "detected",
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_ram() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def detect() -> dict:
    """Device type, name, threads and total memory (bytes) of the device training would use."""
    device = pick_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        return {
            "device": "cuda",
            "name": props.name,
            "threads": os.cpu_count() or 1,
            "total_memory": props.total_memory,
            "bf16": torch.cuda.is_bf16_supported(),
        }
    return {
        "device": "cpu",
        "name": _cpu_name(),
        "threads": os.cpu_count() or 1,
        "total_memory": _total_ram(),
        "bf16": cpu_has_fast_bf16(),
    }


def measure_matmul_flops(seconds: float = 3.0, size: int = 1024, dtype: torch.dtype = torch.float32) -> float:
    """Sustained matmul FLOP/s in ``dtype`` on this worker's device (the roofline training is compared to)."""
    device = pick_device()
    configure(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # measure true fp32, as stated
        size = max(size, 4096)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    iterations = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        iterations += 1
        if device.type == "cuda" and iterations % 10 == 0:
            torch.cuda.synchronize()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.backends.cuda.matmul.allow_tf32 = True
    elapsed = time.perf_counter() - start
    return 2.0 * size**3 * iterations / elapsed
