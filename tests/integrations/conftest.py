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


class ProxyServer:
    """The real LiteLLM proxy with the Hive plugin, on loopback, from ``integrations/config.yaml``."""

    def __init__(self, workdir: Any, extra_models: list[dict[str, Any]], env: dict[str, str]) -> None:
        import os
        import socket
        import subprocess
        import sys
        import time
        from pathlib import Path

        import yaml

        root = Path(__file__).resolve().parents[2]
        config = yaml.safe_load((root / "integrations" / "config.yaml").read_text())
        config["model_list"].extend(extra_models)
        config["litellm_settings"]["num_retries"] = 0
        path = Path(workdir) / "proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.key = "sk-hive-test-master"
        self.base_url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "LITELLM_MASTER_KEY": self.key, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                    "HIVE_DATA_DIR": str(Path(workdir) / "hive"), "HIVE_MEMORY__EMBEDDER": "hashing", **env}
        self.log = Path(workdir) / "proxy.log"
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("litellm")), "--config", str(path), "--host", "127.0.0.1",
             "--port", str(self.port), "--num_workers", "1"],
            cwd=workdir, env=full_env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        import httpx

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/health/liveliness", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.close()
        raise RuntimeError(f"proxy did not start in 90 s: {self.log.read_text()[-3000:]}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()


def _proxy_importable() -> str | None:
    """None when the LiteLLM proxy's own dependencies are installed, else the import error."""
    import subprocess
    import sys

    check = subprocess.run([sys.executable, "-c", "import litellm.proxy.proxy_server"], capture_output=True,
                           text=True, env={**__import__("os").environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return None if check.returncode == 0 else (check.stderr.strip().splitlines() or ["import failed"])[-1]


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """Started once per test session (7-10 s)."""
    missing = _proxy_importable()
    if missing is not None:
        pytest.skip(f"the LiteLLM proxy extras are not installed ({missing}); pip install 'litellm[proxy]'")
    server = ProxyServer(
        tmp_path_factory.mktemp("proxy"),
        extra_models=[
            {"model_name": "hive-mock-limited",
             "litellm_params": {"model": "openai/hive-mock-limited", "api_key": "x", "mock_response": "ok"}},
            {"model_name": "hive-mock-down",
             "litellm_params": {"model": "openai/hive-mock-down", "api_key": "x",
                                "mock_response": "litellm.InternalServerError"}},
        ],
        env={
            "HIVE_GUARD__MODEL_LIMITS": '{"hive-mock-limited": {"requests_per_minute": 2}}',
            "HIVE_GUARD__MAX_WAIT_S": "0",
            "HIVE_GUARD__FAILURE_THRESHOLD": "2",
        },
    )
    yield server
    server.close()
