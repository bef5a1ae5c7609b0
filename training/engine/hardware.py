"""What this worker runs on: device detection, thread setup and a matmul FLOP/s probe."""

import os
import platform
import time

import torch


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def configure(device: torch.device) -> None:
    """Use every core on CPU; allow TF32 matmuls on CUDA (Ampere and later)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(os.cpu_count() or 1)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast where the GPU supports it; None means plain fp32."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


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
        "bf16": False,
    }


def measure_matmul_flops(seconds: float = 3.0, size: int = 1024) -> float:
    """Sustained fp32 matmul FLOP/s on this worker's device (the roofline training is compared to)."""
    device = pick_device()
    configure(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # measure true fp32, as stated
        size = max(size, 4096)
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
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
