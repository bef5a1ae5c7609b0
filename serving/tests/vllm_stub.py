"""A small local stand-in for a vLLM OpenAI-compatible server (``--enable-lora`` with
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``), for tests of the vllm backend.

It speaks the routes and JSON shapes the backend uses (``/health``, ``/v1/models``,
``/v1/load_lora_adapter``, ``/v1/unload_lora_adapter``, ``/v1/completions`` streamed as server-sent
events or not, with ``prompt_logprobs``), answers with made-up text that names the model it was asked
for, and records every request. It listens on a free loopback port.
"""

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAVOURED_LOGPROB = -0.05
OTHER_LOGPROB = -4.0


class VllmStub:
    def __init__(
        self, *, base_model: str = "tiny-base", max_model_len: int = 1024, runtime_lora: bool = True
    ):
        self.base_model = base_model
        self.max_model_len = max_model_len
        self.runtime_lora = runtime_lora
        self.loras: dict[str, str] = {}
        self.requests: list[tuple[str, dict]] = []
        # Token ids a model finds likely: prompt_logprobs gives them FAVOURED_LOGPROB, others OTHER_LOGPROB.
        self.favoured: dict[str, set[int]] = {}
        self.status_override: int | None = None  # answer completions with this status (429, 503, ...)
        self._flowing = threading.Event()
        self._flowing.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "VllmStub":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def hold(self) -> None:
        """Streams stop after their first chunk until ``release()`` (requests stay in flight)."""
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def requests_to(self, path: str) -> list[dict]:
        return [body for route, body in self.requests if route == path]

    def answer_words(self, model: str, prompt: list[int]) -> list[str]:
        words = f"{model} heard {len(prompt)} tokens and answers kindly".split(" ")
        return [words[0]] + [" " + word for word in words[1:]]

    # -- HTTP ------------------------------------------------------------------------------------
    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                if self.path == "/health":
                    return self._send(HTTPStatus.OK, b"", "text/plain")
                if self.path == "/v1/models":
                    return self._json(HTTPStatus.OK, {"object": "list", "data": stub._model_cards()})
                return self._json(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append((self.path, body))
                if (
                    self.path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")
                    and not stub.runtime_lora
                ):
                    return self._json(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})
                if self.path == "/v1/load_lora_adapter":
                    return self._load(body)
                if self.path == "/v1/unload_lora_adapter":
                    return self._unload(body)
                if self.path == "/v1/completions":
                    return self._complete(body)
                return self._json(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

            def _send(self, status, payload: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, status, payload):
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _error(self, status: HTTPStatus, message: str, kind: str):
                error = {"message": message, "type": kind, "param": None, "code": status.value}
                self._json(status, {"error": error})

            def _load(self, body):
                name, path = body.get("lora_name"), body.get("lora_path")
                if not name or not path:
                    return self._error(
                        HTTPStatus.BAD_REQUEST,
                        "Both 'lora_name' and 'lora_path' must be provided.",
                        "InvalidUserInput",
                    )
                if name in stub.loras:
                    return self._error(
                        HTTPStatus.BAD_REQUEST,
                        f"The lora adapter '{name}' has already been loaded.",
                        "InvalidUserInput",
                    )
                if not (Path(path) / "adapter_config.json").is_file():
                    return self._error(HTTPStatus.NOT_FOUND, f"No adapter found for {path}", "NotFoundError")
                stub.loras[name] = path
                self._send(
                    HTTPStatus.OK,
                    f"Success: LoRA adapter '{name}' added successfully.".encode(),
                    "text/plain",
                )

            def _unload(self, body):
                name = body.get("lora_name")
                if name not in stub.loras:
                    return self._error(
                        HTTPStatus.NOT_FOUND, f"The lora adapter '{name}' cannot be found.", "NotFoundError"
                    )
                del stub.loras[name]
                self._send(
                    HTTPStatus.OK,
                    f"Success: LoRA adapter '{name}' removed successfully.".encode(),
                    "text/plain",
                )

            def _complete(self, body):
                model = body.get("model")
                if stub.status_override:
                    status = HTTPStatus(stub.status_override)
                    return self._error(status, "The server is busy.", "ServiceUnavailableError")
                if model != stub.base_model and model not in stub.loras:
                    return self._error(
                        HTTPStatus.NOT_FOUND, f"The model `{model}` does not exist.", "NotFoundError"
                    )
                prompt = body.get("prompt")
                prompts = prompt if prompt and isinstance(prompt[0], list) else [prompt]
                if not all(isinstance(ids, list) and all(isinstance(t, int) for t in ids) for ids in prompts):
                    return self._error(HTTPStatus.BAD_REQUEST, "prompt must be token ids", "BadRequestError")
                if body.get("stream"):
                    return self._stream(model, prompts[0], body)
                choices = []
                for index, ids in enumerate(prompts):
                    words, reason = stub._words(model, ids, body)
                    choice = {"index": index, "text": "".join(words), "finish_reason": reason}
                    if body.get("prompt_logprobs") is not None:
                        choice["prompt_logprobs"] = stub._prompt_logprobs(model, ids)
                    choices.append(choice)
                self._json(HTTPStatus.OK, {"object": "text_completion", "model": model, "choices": choices})

            def _stream(self, model, prompt, body):
                words, reason = stub._words(model, prompt, body)
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

                def event(payload):
                    data = payload if isinstance(payload, str) else json.dumps(payload)
                    self.wfile.write(f"data: {data}\n\n".encode())
                    self.wfile.flush()

                base = {"object": "text_completion", "model": model}
                for index, word in enumerate(words):
                    last = index == len(words) - 1
                    choice = {"index": 0, "text": word, "token_ids": [1000 + index], "finish_reason": None}
                    if last:
                        choice["finish_reason"] = reason
                    event({**base, "choices": [choice], "usage": None})
                    if index == 0:
                        stub._flowing.wait(timeout=60)
                usage = {"prompt_tokens": len(prompt), "completion_tokens": len(words)}
                event({**base, "choices": [], "usage": {**usage, "total_tokens": sum(usage.values())}})
                event("[DONE]")

        return Handler

    def _model_cards(self) -> list[dict]:
        base = {"id": self.base_model, "object": "model", "max_model_len": self.max_model_len, "parent": None}
        loras = [
            {"id": name, "object": "model", "root": path, "parent": self.base_model}
            for name, path in self.loras.items()
        ]
        return [base, *loras]

    def _words(self, model: str, prompt: list[int], body: dict) -> tuple[list[str], str]:
        words = self.answer_words(model, prompt)
        text = ""
        for count, word in enumerate(words, start=1):
            text += word
            stops = [text.index(stop) for stop in body.get("stop") or [] if stop in text]
            if stops:
                return _cut(words, min(stops)), "stop"
            if count >= body.get("max_tokens", 16):
                return words[:count], "length"
        return words, "stop"

    def _prompt_logprobs(self, model: str, prompt: list[int]) -> list:
        favoured = self.favoured.get(model, set())
        entries: list = [None]
        for token in prompt[1:]:
            logprob = FAVOURED_LOGPROB if token in favoured else OTHER_LOGPROB
            entries.append({str(token): {"logprob": logprob, "rank": 1, "decoded_token": ""}})
        return entries


def _cut(words: list[str], length: int) -> list[str]:
    """The words' first ``length`` characters, still split where the words were."""
    pieces, used = [], 0
    for word in words:
        if used >= length:
            break
        pieces.append(word[: length - used])
        used += len(word)
    return pieces
