"""Acknowledged means durable over HTTP: ``hive serve`` killed with SIGKILL mid-load loses no 201.

Several clients write through a real ``hive serve`` child; every write the server
acknowledged (201) is recorded. The child is killed with SIGKILL while writes are
in flight, started again on the same data directory, and every acknowledged write
must be there: by key over HTTP, by keyword search over HTTP, and, once the
embedding outbox has drained, by vector search alone.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from hive_middleware.integrations.server.keys import KeyStore

from hive_middleware.config import HiveConfig
from hive_middleware.evals.serve_process import ServeProcess
from hive_middleware.stack import HiveStack

pytestmark = pytest.mark.slow

WRITERS = 6
ACKS_BEFORE_KILL = 150


class Acks:
    """What the clients saw: acknowledged writes and requests that failed in transport."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written: dict[str, tuple[str, str]] = {}  # key -> (id, content)
        self.lost_in_flight = 0
        self.other_failures: list[str] = []

    def count(self) -> int:
        with self.lock:
            return len(self.written)


def _writer(base_url: str, key: str, worker: int, acks: Acks, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        i = 0
        while not stop.is_set():
            mem_key = f"w{worker}-{i}"
            content = f"durable note kn{worker}x{i} from writer {worker}"
            try:
                response = client.post("/v1/memories", json={"content": content, "key": mem_key}, headers=headers)
            except httpx.TransportError:
                with acks.lock:
                    acks.lost_in_flight += 1
                return  # the server is gone
            with acks.lock:
                if response.status_code == 201:
                    acks.written[mem_key] = (response.json()["id"], content)
                else:
                    acks.other_failures.append(f"{response.status_code} {response.text[:200]}")
            i += 1


def test_acknowledged_writes_survive_kill_9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_MEMORY__EMBEDDER", "hashing")  # the servers inherit it
    data_dir = tmp_path / "data"
    keys = KeyStore(data_dir / "server" / "keys.sqlite")
    key, _ = keys.create("acme", scopes=["read", "write"])
    keys.close()

    server = ServeProcess(data_dir, tmp_path / "serve-1.log").start()
    acks, stop = Acks(), threading.Event()
    threads: list[threading.Thread] = []
    try:
        server.wait_ready()
        threads = [threading.Thread(target=_writer, args=(server.base_url, key, w, acks, stop), daemon=True)
                   for w in range(WRITERS)]  # fmt: skip
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while acks.count() < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        assert acks.count() >= ACKS_BEFORE_KILL, f"only {acks.count()} writes acknowledged in 120 s"
        assert all(t.is_alive() for t in threads), "every writer is still writing when the server is killed"
        server.kill()
    finally:
        stop.set()
        server.kill()
        for t in threads:
            t.join(30)
    assert not acks.other_failures, acks.other_failures[:3]
    assert acks.lost_in_flight >= 1, "the kill landed while writes were in flight"
    written = dict(acks.written)

    restarted = ServeProcess(data_dir, tmp_path / "serve-2.log").start()
    try:
        restarted.wait_ready()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=restarted.base_url, timeout=30.0, headers=headers) as client:
            missing = []
            for mem_key, (rid, content) in written.items():
                got = client.get(f"/v1/memories/{mem_key}")
                if got.status_code != 200 or got.json()["id"] != rid or got.json()["content"] != content:
                    missing.append((mem_key, got.status_code))
            assert not missing, f"{len(missing)} of {len(written)} acknowledged writes lost: {missing[:5]}"
            unfound = []
            for mem_key, (rid, content) in written.items():
                word = content.split()[2]  # the write's unique marker word
                found = client.post("/v1/memories/search", json={"query": word, "k": 5})
                assert found.status_code == 200, found.text
                body = found.json()
                items = body["results"] if isinstance(body, dict) else body
                ids = [item.get("memory", item)["id"] for item in items]
                if rid not in ids:
                    unfound.append(mem_key)
            assert not unfound, f"{len(unfound)} acknowledged writes not found by search: {unfound[:5]}"
    finally:
        restarted.stop()

    # The outbox rows left by the kill are resumed: every write gets its vector.
    stack = HiveStack.from_config(HiveConfig.load(data_dir=str(data_dir)))
    try:
        memory = stack.memory
        assert memory.flush(timeout=120), "the embedding outbox did not drain after the restart"
        assert memory.graph.outbox_pending() == 0
        vector_only = {"vector": 1.0, "bm25": 0.0, "graph": 0.0, "recency": 0.0, "author": 0.0}
        unembedded = [
            mem_key
            for mem_key, (rid, content) in written.items()
            if rid not in [h.record.id for h in memory.search(content, k=5, namespace=("acme",), weights=vector_only)]
        ]
        assert not unembedded, f"{len(unembedded)} acknowledged writes have no vector: {unembedded[:5]}"
    finally:
        stack.close()
