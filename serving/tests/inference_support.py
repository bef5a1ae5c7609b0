"""What the inference-process tests share: a control plane in memory, the app on a real loopback port,
and a small OpenAI-compatible fallback server."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2 as httpx

from serving.inference.control import EndpointState, KeyGrant, LogEntry, VersionRef


class MemoryControl:
    """The control plane as the inference process sees it, held in memory and changed by the test."""

    def __init__(self, base_model: Path):
        self.base_model = base_model
        self.keys: dict[str, KeyGrant] = {}
        self.states: dict[str, EndpointState] = {}
        self.records: list[LogEntry] = []
        self.auth_calls = 0
        self._lock = threading.Lock()

    def authenticate(self, secret: str) -> KeyGrant | None:
        self.auth_calls += 1
        return self.keys.get(secret)

    def endpoint_states(self) -> dict[str, EndpointState]:
        return dict(self.states)

    def base_model_path(self, version: VersionRef) -> Path:
        return self.base_model

    def record(self, entry: LogEntry) -> int:
        with self._lock:
            self.records.append(entry)
            return len(self.records)

    def update(self, slug: str, **changes) -> None:
        self.states[slug] = replace(self.states[slug], **changes)


def version(number: int, folder: Path, *, id: int | None = None) -> VersionRef:
    return VersionRef(
        id=id or number,
        number=number,
        baseline=False,
        artifacts_dir=folder,
        base_model_id=1,
        training_config={},
    )


def endpoint(slug: str, task_type: str, production: VersionRef, **settings) -> EndpointState:
    return EndpointState(
        id=abs(hash(slug)) % 10_000,
        slug=slug,
        team="support",
        created=int(time.time()),
        task_type=task_type,
        production=production,
        **settings,
    )


class LiveServer:
    """The inference app on uvicorn in a thread (configured as `manage.py serve` configures it), listening
    on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        from serving.management.commands.serve import server_config

        self.app = app
        self.inference = app.state.inference
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(server_config(app))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("the inference app never became ready")

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self._thread.join(60)

    def post(self, path: str, json_body: dict, key: str | None = None, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.post(f"{self.url}{path}", json=json_body, headers=headers, timeout=60, **kwargs)

    def logs(self) -> list[LogEntry]:
        assert self.inference.logs.flush(), "the request log did not drain"
        return list(self.inference.control.records)


class FallbackModel:
    """A small OpenAI-compatible server: ``POST /v1/chat/completions`` answers ``answer`` after ``delay``."""

    def __init__(self, answer: str = "dog", delay: float = 0.0):
        self.answer = answer
        self.delay = delay
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, **body})
                time.sleep(outer.delay)
                payload = json.dumps(
                    {
                        "id": "fallback-1",
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": outer.answer}}],
                    }
                ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the caller gave up (its timeout)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
