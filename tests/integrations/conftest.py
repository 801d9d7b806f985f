"""Fixtures for the integration tests: a real Hive stack on in-memory adapters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
from hive_middleware.resilience.guard import Guard
from hive_middleware.stack import HiveStack
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex


def in_memory_stack(*, guard: Guard | None = None, policy: Any = None, tenant: str = "acme") -> HiveStack:
    """A real HiveStack on in-memory memory back-ends with the hashing embedder."""
    memory = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(), namespace=(tenant,))
    return HiveStack(HiveConfig.load(tenant=tenant), memory=memory, guard=guard or Guard(), policy=policy)


@pytest.fixture
def make_stack() -> Iterator[Any]:
    made: list[HiveStack] = []

    def factory(**kwargs: Any) -> HiveStack:
        stack = in_memory_stack(**kwargs)
        made.append(stack)
        return stack

    yield factory
    for stack in made:
        stack.close()


class FakeOpenAI:
    """A loopback OpenAI-compatible chat endpoint that records every request body."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        bodies: list[dict[str, Any]] = []
        self.bodies = bodies
        self.reply = "ok"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers["content-length"])
                bodies.append(json.loads(self.rfile.read(size)))
                out = json.dumps({
                    "id": f"chatcmpl-{len(bodies)}", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": outer.reply},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()
