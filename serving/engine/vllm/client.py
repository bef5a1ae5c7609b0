"""A small JSON and server-sent-events client for one vLLM server (standard library only).

Each call opens its own connection, so a stream that is abandoned is closed with its socket, which
makes vLLM abort the request. Timeouts apply to every blocking read: a stream whose deadline passes
raises ``Timeout``; an unreachable server raises ``BackendUnavailable``.
"""

import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from serving.engine.errors import BackendUnavailable, Timeout


class HttpError(Exception):
    """A non-2xx answer, with vLLM's error message (either of its error body shapes)."""

    def __init__(self, status: int, body):
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {error_message(body)}")


def error_message(body) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])
    return str(body)[:500]


class VllmClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, connect_timeout: float = 5.0):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.connect_timeout = connect_timeout

    def _open(self, method: str, path: str, body, timeout: float):
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = factory(self._host, self._port, timeout=min(timeout, self.connect_timeout))
        try:
            connection.request(
                method,
                self._prefix + path,
                body=None if body is None else json.dumps(body),
                headers=self._headers,
            )
            sock = connection.sock  # http.client drops it from the connection once the answer has no length
            sock.settimeout(timeout)
            return connection, sock, connection.getresponse()
        except TimeoutError as error:
            connection.close()
            raise Timeout(f"the vLLM server at {self.base_url} did not answer in time") from error
        except OSError as error:
            connection.close()
            raise BackendUnavailable(f"cannot reach the vLLM server at {self.base_url} ({error})") from error

    @staticmethod
    def _read_json(response) -> object:
        raw = response.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def call(self, method: str, path: str, body=None, *, timeout: float = 30.0):
        """One request; returns the decoded JSON (or text) body, raises HttpError when not 2xx."""
        connection, _, response = self._open(method, path, body, timeout)
        try:
            payload = self._read_json(response)
        except TimeoutError as error:
            raise Timeout(f"the vLLM server at {self.base_url} did not answer in time") from error
        except OSError as error:
            raise BackendUnavailable(
                f"the vLLM server at {self.base_url} dropped the answer ({error})"
            ) from error
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise HttpError(response.status, payload)
        return payload

    def stream(self, path: str, body, *, deadline: float) -> "EventStream":
        """Start a streaming request; raises HttpError at once when vLLM refuses it."""
        connection, sock, response = self._open("POST", path, body, max(0.001, deadline - time.monotonic()))
        if not 200 <= response.status < 300:
            try:
                payload = self._read_json(response)
            finally:
                connection.close()
            raise HttpError(response.status, payload)
        return EventStream(connection, sock, response, deadline, self.base_url)


class EventStream:
    """The ``data:`` events of a server-sent-events answer, decoded from JSON, until ``[DONE]``."""

    def __init__(self, connection, sock: socket.socket, response, deadline: float, base_url: str):
        self._connection = connection
        self._sock = sock
        self._response = response
        self._deadline = deadline
        self._base_url = base_url

    def __iter__(self) -> Iterator[dict]:
        try:
            while True:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout("the request's deadline passed while vLLM was answering")
                self._sock.settimeout(remaining)
                line = self._response.readline()
                if not line:
                    raise BackendUnavailable(f"the vLLM server at {self._base_url} ended the stream early")
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[len(b"data:") :].strip()
                if data == b"[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError as error:
                    raise BackendUnavailable(
                        f"the vLLM server at {self._base_url} sent invalid JSON"
                    ) from error
                yield event
        except TimeoutError as error:
            raise Timeout("the request's deadline passed while vLLM was answering") from error
        except (OSError, ValueError) as error:  # ValueError: closed by cancel() in another thread
            raise BackendUnavailable(
                f"the vLLM server at {self._base_url} dropped the stream ({error})"
            ) from error
        finally:
            self.close()

    def close(self) -> None:
        """End the request (from any thread): vLLM sees the connection drop and aborts it."""
        with contextlib.suppress(OSError):  # already closed
            self._sock.shutdown(socket.SHUT_RDWR)
        self._response.close()
        self._connection.close()
