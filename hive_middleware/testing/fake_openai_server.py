"""A scripted OpenAI-compatible HTTP server on loopback, for fault-injection tests and benches.

Each ``POST .../chat/completions`` consumes the next :class:`Reply` of the script
(and, once the script is used up, answers ``200`` with a fixed completion). Point
litellm at it with ``model="openai/fake", api_base=server.url, api_key="x"``.
Every request is recorded with its arrival time, so a test can check, for
example, that a retry came no sooner than the ``Retry-After`` it was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeOpenAIServer", "Reply", "completion_body"]


def completion_body(
    content: str = "ok", *, prompt_tokens: int = 5, completion_tokens: int = 1
) -> dict[str, Any]:
    """A minimal OpenAI chat-completion response body."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass(frozen=True)
class Reply:
    """One scripted answer: HTTP status, extra headers, JSON body (default: an error or a completion)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        if self.status == 200:
            return completion_body()
        kind = "rate_limit_error" if self.status == 429 else "server_error"
        return {"error": {"message": f"scripted {self.status}", "type": kind, "code": str(self.status)}}


@dataclass(frozen=True)
class Received:
    """A request the server got: monotonic arrival time, path, JSON body."""

    at: float
    path: str
    body: dict[str, Any]


class FakeOpenAIServer:
    """Threaded HTTP server on ``127.0.0.1`` answering from a script.

    Args:
        script: Replies for the first requests, in order.
        port: Port to bind (0: any free port).
    """

    def __init__(self, script: Iterable[Reply] = (), *, port: int = 0) -> None:
        self._script: deque[Reply] = deque(script)
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                reply = server._next(Received(time.monotonic(), self.path, body))
                data = json.dumps(reply.payload()).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            return self._script.popleft() if self._script else Reply()

    def push(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    @property
    def url(self) -> str:
        """Base URL to pass as ``api_base`` (ends in ``/v1``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
