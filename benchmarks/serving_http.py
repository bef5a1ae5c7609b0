"""The inference process over HTTP: a load generator (this process) against a live server (a child process)
with the real SmolLM2 and LoRA adapters, on loopback, every phase bounded in time.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serving_http.py [--seconds 20] [--max-tokens 24]

Printed side by side:
1. throughput with 16 concurrent clients vs 1 (free text and classification; target >= 4x);
2. p50 latency at concurrency 1 over HTTP vs the same request to the engine in the server's own process
   (measured there, before it starts listening; target overhead <= 15%);
3. server memory (RSS) with 5 endpoints (5 adapters on one base model) vs 1 (target <= 1.3x);
4. at 3x the server's capacity (requests in flight): only 200/429/503 answers, and RSS before/after.

The server is the app ``manage.py serve`` runs (``serving.inference.app``) with the embedded engine; its
control plane (keys, endpoint states, request log) is held in memory so no database is needed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings.local")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "slm_benchmark-key"
TOPICS = ["the sea", "a train journey", "coffee", "winter mornings", "a lost key", "the library", "rain"]
QUESTIONS = [
    "how much money is in my account", "send 50 euros to my sister", "I lost my card yesterday",
    "can I change my pin online", "when do you open on saturday", "why was I charged this fee",
]  # fmt: skip


# -- the server (child process) ------------------------------------------------------------------


def serve(args) -> None:
    import socket

    import torch
    import uvicorn

    from benchmarks.serving_engine import INSTRUCTIONS, INTENTS, build_adapter
    from serving.engine.config import EngineLimits
    from serving.engine.embedded import EmbeddedEngine
    from serving.engine.protocol import GenerateRequest, collect
    from serving.inference.app import build_app
    from serving.inference.config import InferenceConfig
    from serving.inference.control import EndpointState, KeyGrant, VersionRef
    from training.engine.base_models import ensure_cached

    cached = ensure_cached(None, args.cache)
    scratch = Path(tempfile.mkdtemp(prefix="serving-http-"))
    states = {}
    for index in range(args.endpoints):
        if args.baseline:  # the base model alone, prompted (what llama.cpp serves from the same GGUF)
            config = {"task_type": "classification", "labels": INTENTS, "instructions": INSTRUCTIONS}
            version = VersionRef(index + 1, index + 1, True, None, 1, config)
        else:
            folder = build_adapter(cached.path, scratch / f"adapter-{index}")
            version = VersionRef(index + 1, index + 1, False, folder, 1, {})
        for slug, task in ((f"ep{index}", "generation"), (f"ep{index}-labels", "classification")):
            states[slug] = EndpointState(
                id=len(states) + 1,
                slug=slug,
                team="bench",
                created=0,
                task_type=task,  # the same version answers free text or scores its 10 intents
                production=version,
                max_tokens_cap=512,
                request_timeout_s=600,
            )

    class Control:
        def authenticate(self, secret):
            if secret == KEY:
                return KeyGrant(1, frozenset(states), args.rate_limit)
            return None

        def endpoint_states(self):
            return states

        def base_model_path(self, version):
            return cached.path

        def record(self, entry):
            return 0

    limits = EngineLimits(max_batch_size=args.batch, max_queue=args.queue, max_tokens_cap=512)
    engine = EmbeddedEngine(limits=limits)
    config = InferenceConfig(limits=limits, shadow_queue_size=0)
    app = build_app(engine, Control(), config)
    inference = app.state.inference
    inference.deployments.sync()  # load every endpoint before listening

    # The same request as the HTTP latency samples, to the engine in this process (no HTTP, no app):
    # one sample per SIGUSR1, taken while no HTTP request runs, so both are measured alike.
    name = states["ep0"].production.name
    request = GenerateRequest(
        name,
        messages=[{"role": "user", "content": "Write a short story about the sea."}],
        max_tokens=args.max_tokens,
    )
    collect(engine.generate(request))

    def sample_in_process(signum, frame):
        started = time.perf_counter()
        collect(engine.generate(request))
        print(json.dumps({"in_process": time.perf_counter() - started}), flush=True)

    signal.signal(signal.SIGUSR1, sample_in_process)

    parent = os.getppid()

    def exit_with_parent() -> None:  # a load generator killed by a timeout must not leave its server
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"port": sock.getsockname()[1], "threads": torch.get_num_threads()}), flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")).run(sockets=[sock])


# -- the load generator (this process) -----------------------------------------------------------


class Server:
    """The inference app (``serve`` above) in a child process, listening on a free loopback port."""

    def __init__(
        self,
        args,
        *,
        endpoints: int,
        batch: int,
        queue: int,
        rate_limit: int = 1_000_000,
        baseline: bool = False,
    ):
        command = [
            sys.executable, __file__, "--serve", "--endpoints", str(endpoints), "--batch", str(batch),
            "--queue", str(queue), "--rate-limit", str(rate_limit), "--cache", str(args.cache),
            "--max-tokens", str(args.max_tokens), "--latency-samples", str(args.latency_samples),
            *(["--baseline"] if baseline else []),
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "PYTHONWARNINGS": "ignore"}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the server did not start")
        started = json.loads(line)
        self.port = started["port"]
        self.threads = started["threads"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)

    def in_process_seconds(self) -> float:
        """One in-process sample of the latency request, taken by the server itself."""
        self.process.send_signal(signal.SIGUSR1)
        return json.loads(self.process.stdout.readline())["in_process"]

    def rss_mib(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 600):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        connection.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def chat_completion(port: int, body: dict) -> tuple[int, dict | None]:
    """``POST /v1/chat/completions``: the status and, on 200, the answer's JSON."""
    status, raw = request(port, "POST", "/v1/chat/completions", body)
    return status, json.loads(raw) if status == 200 else None


def chat(port: int, model: str, text: str, max_tokens: int):
    status, answer = chat_completion(
        port, {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}
    )
    return status, answer["usage"]["completion_tokens"] if answer else 0


def load(clients: int, seconds: float, work) -> tuple[float, list]:
    """``clients`` threads call ``work(i)`` back to back for ``seconds``; returns wall time and results."""
    results: list = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        index = number
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            result = work(index)
            with lock:
                results.append((result, time.perf_counter() - started))
            index += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
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
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--latency-samples", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "model-cache")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoints", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--queue", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--rate-limit", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)

    print("SmolLM2-135M-Instruct + LoRA r=16 adapters, embedded engine, HTTP on loopback")
    server = Server(args, endpoints=1, batch=args.clients, queue=64)
    try:
        # 1 and 2: throughput and latency
        def generate(index):
            return chat(
                server.port,
                "ep0",
                f"Write a short story about {TOPICS[index % len(TOPICS)]}.",
                args.max_tokens,
            )

        def classify(index):
            return chat(server.port, "ep0-labels", QUESTIONS[index % len(QUESTIONS)], 1)

        generate(0), classify(0)  # warm-up
        one_endpoint = server.rss_mib()  # after the same warm-up as the 5-endpoint server below
        http_latencies, in_process = [], []
        for _ in range(args.latency_samples):  # interleaved, so machine noise hits both alike
            started = time.perf_counter()
            status, _ = chat(server.port, "ep0", "Write a short story about the sea.", args.max_tokens)
            assert status == 200
            http_latencies.append(time.perf_counter() - started)
            in_process.append(server.in_process_seconds())
        print(f"\n{'requests':<16}{'clients':>8}{'answers':>9}{'seconds':>9}{'req/s':>8}{'tokens/s':>10}")
        figures = {}
        for kind, work in (("free text", generate), ("classification", classify)):
            for clients in (1, args.clients):
                seconds, results = load(clients, args.seconds, work)
                ok = [tokens for (status, tokens), _ in results if status == 200]
                assert len(ok) == len(results), Counter(status for (status, _), _ in results)
                figures[kind, clients] = (len(ok) / seconds, sum(ok) / seconds)
                rate, token_rate = figures[kind, clients]
                print(f"{kind:<16}{clients:>8}{len(ok):>9}{seconds:>9.1f}{rate:>8.2f}{token_rate:>10.1f}")
        text_ratio = figures["free text", args.clients][1] / figures["free text", 1][1]
        label_ratio = figures["classification", args.clients][0] / figures["classification", 1][0]
        print(f"throughput {args.clients} clients / 1: free text {text_ratio:.2f}x (tokens/s), "
              f"classification {label_ratio:.2f}x (req/s)   target >= 4x")  # fmt: skip
        http_p50 = statistics.median(http_latencies)
        in_process_p50 = statistics.median(in_process)
        overhead = http_p50 / in_process_p50 - 1
        print(f"p50 at concurrency 1, {args.max_tokens} tokens: HTTP {http_p50 * 1000:.1f} ms, in-process "
              f"{in_process_p50 * 1000:.1f} ms, overhead {overhead:+.1%}   target <= 15%")  # fmt: skip
    finally:
        server.stop()

    # 3: memory with 5 endpoints
    server = Server(args, endpoints=5, batch=args.clients, queue=64)
    try:
        for index in range(5):  # the same warm-up on each endpoint
            assert (
                chat(server.port, f"ep{index}", "Write a short story about the sea.", args.max_tokens)[0]
                == 200
            )
            assert chat(server.port, f"ep{index}-labels", QUESTIONS[0], 1)[0] == 200
        five_endpoints = server.rss_mib()
    finally:
        server.stop()
    print(f"server RSS: 1 endpoint {one_endpoint:,.0f} MiB, 5 endpoints {five_endpoints:,.0f} MiB, "
          f"ratio {five_endpoints / one_endpoint:.2f}x   target <= 1.3x")  # fmt: skip

    # 4: 3x capacity, with a rate limit that some clients exceed
    batch, queue = 4, 8
    capacity = batch + queue
    server = Server(args, endpoints=1, batch=batch, queue=queue, rate_limit=6000)
    try:
        chat(server.port, "ep0", "hello", 4)
        before = server.rss_mib()
        seconds, results = load(
            3 * capacity, args.seconds, lambda i: chat(server.port, "ep0", "Tell me a story.", 8)
        )
        after = server.rss_mib()
        statuses = Counter(status for (status, _), _ in results)
        print(f"3x capacity ({3 * capacity} clients, {capacity} in flight at most) for {seconds:.0f} s: "
              f"{dict(sorted(statuses.items()))}; only 200/429/503: {set(statuses) <= {200, 429, 503}}; "
              f"RSS {before:,.0f} -> {after:,.0f} MiB")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
