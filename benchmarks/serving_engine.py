"""Serving throughput of the embedded engine, 16 concurrent clients vs 1: the real SmolLM2 + a LoRA adapter.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serving_engine.py [--max-tokens 48] [--clients 16]

The engine is called in-process (no HTTP), so the figure is what dynamic batching buys: with one client
every decode step runs one row; with 16 clients, requests share steps. Free-text requests ask for
``--max-tokens`` new tokens (throughput counts the tokens actually generated); classification requests
score the labels of a 10-intent set. Printed: requests/s and tokens/s for 1 client and for N clients,
and the ratio (target: >= 4x), plus the process's peak memory after each phase.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving.engine.config import EngineLimits
from serving.engine.protocol import ClassifyRequest, GenerateRequest, collect

TOPICS = [
    "the sea", "a train journey", "coffee", "winter mornings", "a lost key", "the library",
    "rain in the city", "a garden", "learning to cook", "a mountain walk", "an old radio",
    "the night market", "a bicycle", "moving house", "a quiet office", "the first snow",
]  # fmt: skip
INTENTS = [
    "balance",
    "transfer",
    "card_lost",
    "pin_change",
    "opening_hours",
    "loan",
    "fees",
    "refund",
    "atm",
    "other",
]
QUESTIONS = [
    "how much money is in my account", "send 50 euros to my sister", "I lost my card yesterday",
    "can I change my pin online", "when do you open on saturday", "I want to borrow money for a car",
    "why was I charged this fee", "the shop never refunded me", "where is the nearest cash machine",
    "tell me a joke",
]  # fmt: skip
INSTRUCTIONS = "You are a helpful assistant. Answer in a few sentences."


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_adapter(base: Path, folder: Path) -> Path:
    """A LoRA adapter (r=16 on every linear layer) saved like a model version of the base model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.engine.base_models import load_tokenizer

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"),
    )
    model.save_pretrained(folder)
    load_tokenizer(base).save_pretrained(folder)
    config = {"task_type": "classification", "labels": INTENTS, "instructions": INSTRUCTIONS}
    (folder / "training_config.json").write_text(json.dumps({**config, "base_model": {"path": str(base)}}))
    return folder


def run_clients(clients: int, requests_per_client: int, work) -> tuple[float, list]:
    """Each client sends its requests one after another; returns wall seconds and every result."""
    results: list = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for request in range(requests_per_client):
            result = work(number * requests_per_client + request)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--single-requests", type=int, default=4, help="requests the lone client sends")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "model-cache")
    args = parser.parse_args()

    from serving.engine.embedded import EmbeddedEngine
    from training.engine.base_models import ensure_cached

    cached = ensure_cached(None, args.cache)
    engine = EmbeddedEngine(
        limits=EngineLimits(max_batch_size=args.clients, max_tokens_cap=max(512, args.max_tokens))
    )
    with tempfile.TemporaryDirectory() as scratch:
        engine.load("support@v1", build_adapter(cached.path, Path(scratch) / "adapter"))
    [model] = engine.health().details["models"].values()
    print(f"model: {cached.key} + LoRA r=16 on {model['device']} ({model['dtype']})")
    print(f"peak RSS after loading: {peak_rss_mib():,.0f} MiB")

    def generate(index: int):
        topic = TOPICS[index % len(TOPICS)]
        request = GenerateRequest(
            adapter="support@v1",
            messages=[{"role": "user", "content": f"Write a short story about {topic}."}],
            max_tokens=args.max_tokens,
        )
        return collect(engine.generate(request)).usage.completion_tokens

    def classify(index: int):
        return engine.classify(ClassifyRequest("support@v1", QUESTIONS[index % len(QUESTIONS)])).label

    generate(0)  # warm-up: first-call allocations and kernels
    classify(0)
    print(f"\n{'free text':<22}{'clients':>8}{'requests':>10}{'seconds':>9}{'req/s':>8}{'tokens/s':>10}")
    figures = {}
    for clients, per_client in ((1, args.single_requests), (args.clients, 1)):
        seconds, tokens = run_clients(clients, per_client, generate)
        figures[clients] = sum(tokens) / seconds
        rate = len(tokens) / seconds
        print(f"{'':<22}{clients:>8}{len(tokens):>10}{seconds:>9.2f}{rate:>8.2f}{figures[clients]:>10.1f}")
    ratio = figures[args.clients] / figures[1]
    print(f"throughput ratio {args.clients} clients / 1 client: {ratio:.2f}x (target >= 4x)")
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")

    print(f"\n{'classification':<22}{'clients':>8}{'requests':>10}{'seconds':>9}{'req/s':>8}")
    rates = {}
    for clients, per_client in ((1, 2 * args.single_requests), (args.clients, 2)):
        seconds, labels = run_clients(clients, per_client, classify)
        assert all(label in INTENTS for label in labels)
        rates[clients] = len(labels) / seconds
        print(f"{'':<22}{clients:>8}{len(labels):>10}{seconds:>9.2f}{rates[clients]:>8.2f}")
    print(f"throughput ratio {args.clients} clients / 1 client: {rates[args.clients] / rates[1]:.2f}x")
    [model] = engine.health().details["models"].values()
    print(f"batching: {model['batching']}")
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    engine.close()


if __name__ == "__main__":
    main()
