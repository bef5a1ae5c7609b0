"""Throughput and memory of `projects.ingest.ingest` end to end (PII scan included).

    .venv/bin/python benchmarks/ingest_throughput.py [--tokenizer path/to/tokenizer.json] [--profile]

Generates a 10,000-row and a 100,000-row classification JSONL (~200-character inputs, 50 labels,
about 3% of rows carrying an e-mail, phone, card, IBAN or IP) in a temporary directory, then ingests
each in a fresh child process and prints rows/s, the peak RSS growth (VmHWM from /proc) and the
tracemalloc peak (a separate run, since tracing slows Python down) side by side.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = [
    "account",
    "order",
    "refund",
    "delivery",
    "package",
    "invoice",
    "password",
    "reset",
    "login",
    "error",
    "payment",
    "card",
    "charge",
    "subscription",
    "cancel",
    "upgrade",
    "plan",
    "shipping",
    "address",
    "update",
    "email",
    "phone",
    "number",
    "support",
    "ticket",
    "status",
    "delayed",
    "missing",
    "damaged",
    "return",
    "exchange",
    "warranty",
    "product",
    "size",
    "colour",
    "price",
    "discount",
    "code",
    "coupon",
    "expired",
    "transfer",
    "balance",
    "statement",
    "fee",
    "overdraft",
    "limit",
    "branch",
    "appointment",
    "schedule",
    "today",
    "tomorrow",
    "yesterday",
    "week",
    "month",
    "please",
    "help",
    "thanks",
    "urgent",
    "again",
    "still",
    "cannot",
    "why",
    "how",
    "when",
]
PII_SNIPPETS = (
    "reach me at jane.doe{n}@mailbox.org",
    "call me on +44 20 7946 {n:04d}",
    "my card 4242 4242 4242 4242 was charged twice",
    "IBAN DE89 3704 0044 0532 0130 00 for the refund",
    "the router at 192.168.{a}.{b} keeps dropping",
    "phone (555) 301-{n:04d} any time",
)
LABELS = [f"intent_{i:02d}" for i in range(50)]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(rows):
            words = []
            length = 0
            target = rng.randint(150, 250)
            while length < target:
                word = rng.choice(WORDS)
                words.append(word)
                length += len(word) + 1
            if rng.random() < 0.03:
                snippet = rng.choice(PII_SNIPPETS).format(n=n % 10000, a=n % 250, b=(n * 7) % 250 + 1)
                words.insert(rng.randint(0, len(words)), snippet)
            text = " ".join(words).capitalize() + f" (ref {n})."
            handle.write(json.dumps({"input": text, "output": rng.choice(LABELS)}) + "\n")


def make_counter(tokenizer_path: str | None):
    if not tokenizer_path:
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)

    def count(texts: list[str]) -> list[int]:
        return [len(encoding.ids) for encoding in encode(texts, add_special_tokens=False)]

    return count


def _vm_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_once(path: str, tokenizer: str | None, trace: bool, profile: bool) -> dict:
    """Runs in a child process: ingest `path` once and report timings and memory."""
    from projects.ingest import ingest

    counter = make_counter(tokenizer)
    if counter is not None:
        counter(["warm up the tokenizer"])
    rss_before = _vm_kib("VmRSS")
    if trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    with open(path, "rb") as src, open(os.devnull, "wb") as dest:
        if profiler:
            profiler.enable()
        report = ingest(
            src,
            fmt="jsonl",
            dest=dest,
            task_type="classification",
            token_counter=counter,
            context_length=2048 if counter else None,
        )
        if profiler:
            profiler.disable()
    elapsed = time.perf_counter() - start
    result = {
        "rows": report.row_count,
        "ok": report.ok,
        "seconds": elapsed,
        "rss_growth_mib": (_vm_kib("VmHWM") - rss_before) / 1024,
        "pii": sum(report.stats["pii_counts"].values()),
        "unit": report.stats["length_unit"],
    }
    if trace:
        result["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        result["profile"] = out.getvalue()
    return result


def child(path: str, tokenizer: str | None, trace: bool, profile: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", path]
    if tokenizer:
        command += ["--tokenizer", tokenizer]
    if trace:
        command.append("--trace")
    if profile:
        command.append("--profile")
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", help="tokenizer.json for a real token counter (default: characters)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the 100k run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.child, args.tokenizer, args.trace, args.profile)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        sizes = (10_000, 100_000)
        paths = {}
        for rows in sizes:
            path = Path(tmp) / f"rows_{rows}.jsonl"
            generate(path, rows)
            paths[rows] = path
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"token counter: {args.tokenizer or 'none (characters)'}")  # fmt: skip
        columns = ("rows", 8), ("file MB", 8), ("seconds", 8), ("rows/s", 9), ("RSS growth MiB", 15)
        print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'traced peak MiB':>16}")
        for rows in sizes:
            timed = child(str(paths[rows]), args.tokenizer, trace=False)
            traced = child(str(paths[rows]), args.tokenizer, trace=True)
            size_mb = paths[rows].stat().st_size / 1e6
            print(
                f"{timed['rows']:>8} {size_mb:>8.1f} {timed['seconds']:>8.2f} "
                f"{timed['rows'] / timed['seconds']:>9,.0f} {timed['rss_growth_mib']:>15.1f} "
                f"{traced['traced_peak_mib']:>16.1f}"
            )
        if args.profile:
            print(child(str(paths[100_000]), args.tokenizer, trace=False, profile=True)["profile"])


if __name__ == "__main__":
    main()
