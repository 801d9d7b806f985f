"""Artifact stores: the in-memory default and the memory-engine adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_middleware.compression import compress, expand
from hive_middleware.compression.artifacts import InMemoryArtifactStore, make_handle
from hive_middleware.compression.memory_artifacts import MemoryArtifactStore
from hive_middleware.errors import HiveNotFoundError, HiveValidationError
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import InMemoryGraphStore
from hive_middleware.types import EdgeKind, MemoryKind


def test_handles_are_short_stable_and_content_derived() -> None:
    h = make_handle("abc")
    assert h == make_handle("abc") and h != make_handle("abd")
    assert h.startswith("h-") and len(h) == 14


def test_in_memory_round_trip_and_eviction() -> None:
    store = InMemoryArtifactStore(max_bytes=10)
    store.put("h-1", "12345", {"turn": 1})
    store.put("h-1", "12345", {"turn": 1})  # idempotent
    assert store.get("h-1") == "12345" and len(store) == 1
    store.put("h-2", "1234567", {"turn": 2})
    assert "h-1" not in store  # evicted: over the size bound
    with pytest.raises(HiveNotFoundError):
        store.get("h-1")
    with pytest.raises(HiveValidationError):
        InMemoryArtifactStore(max_bytes=0)


def test_round_trip_keeps_unicode_and_line_ends_byte_for_byte() -> None:
    text = "OBSERVATION:\nline one\r\n  naïve → 中文 🚀\r\n\x1b[31mred\x1b[0m\n" * 200
    msgs = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": "```\ncat f\n```"},
        {"role": "user", "content": text},
        {"role": "assistant", "content": "```\nls\n```"},
        {"role": "user", "content": "OBSERVATION:\na\nb"},
        {"role": "assistant", "content": "```\nls -la\n```"},
        {"role": "user", "content": "OBSERVATION:\nc"},
        {"role": "assistant", "content": "```\npwd\n```"},
        {"role": "user", "content": "OBSERVATION:\nd"},
        {"role": "assistant", "content": "```\nwhoami\n```"},
        {"role": "user", "content": "OBSERVATION:\ne"},
    ]
    store = InMemoryArtifactStore()
    result = compress(msgs, artifacts=store)
    assert result.labels[2].handle in result.handles
    assert expand(result.labels[2].handle or "", artifacts=store).encode() == text.encode()


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore(InMemoryGraphStore(), namespace=("acme", "agent-1"))


def test_memory_store_adapter_keeps_originals_as_artifacts_attached_to_turns(memory_store: MemoryStore) -> None:
    adapter = MemoryArtifactStore(memory_store, conversation="run-7")
    adapter.put("h-aaaaaaaaaaaa", "first original", {"turn": 3, "role": "tool", "content_type": "file_view"})
    adapter.put("h-aaaaaaaaaaaa", "first original", {"turn": 3})  # already there: no new version
    adapter.put("h-bbbbbbbbbbbb", "second original\n", {"turn": 5, "role": "user"})
    assert adapter.get("h-aaaaaaaaaaaa") == "first original"
    assert adapter.get("h-bbbbbbbbbbbb") == "second original\n"
    record = memory_store.recall("h-aaaaaaaaaaaa")
    assert record is not None and record.kind is MemoryKind.ARTIFACT
    assert len(memory_store.history("h-aaaaaaaaaaaa")) == 1
    turn = memory_store.recall("turn:run-7:3")
    assert turn is not None
    edges = memory_store.graph.edges("acme", record.id)
    assert any(e.kind is EdgeKind.ATTACHED_TO and e.src == record.id and e.dst == turn.id for e in edges)
    with pytest.raises(HiveNotFoundError):
        adapter.get("h-cccccccccccc")


def test_compress_and_expand_through_the_memory_store(memory_store: MemoryStore, tmp_path: Path) -> None:
    listing = "\n".join(f"/repo/src/pkg_{i}/module_{i}.py" for i in range(300))
    msgs = [
        {"role": "system", "content": "Agent."},
        {"role": "user", "content": "Find the module."},
        {"role": "assistant", "content": "```\nfind /repo -name '*.py'\n```"},
        {"role": "user", "content": listing},
    ]
    for k in range(4):
        msgs += [{"role": "assistant", "content": f"```\nls /repo/{k}\n```"}, {"role": "user", "content": f"file_{k}.txt"}]
    adapter = MemoryArtifactStore(memory_store)
    result = compress(msgs, artifacts=adapter)
    assert result.labels[3].handle in result.handles
    assert expand(result.labels[3].handle or "", artifacts=adapter) == listing


def test_near_duplicate_originals_stay_apart_on_a_real_sqlite_store(tmp_path: Path) -> None:
    from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

    from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex

    graph = SQLiteGraphStore(tmp_path / "hive")
    store = MemoryStore(graph, InMemoryVectorIndex(), HashingEmbedder(128), namespace=("acme", "a1"), on_close=graph.close)
    try:
        adapter = MemoryArtifactStore(store)
        base = "\n".join(f"line {i} of the file view with value_{i}" for i in range(50))
        texts = [base, base + "\nextra line", "The file is now fixed. Tests pass.", "The file is now fixed. Tests pass!"]
        for turn, text in enumerate(texts):
            adapter.put(make_handle(text), text, {"turn": turn})
        for text in texts:
            assert adapter.get(make_handle(text)) == text
    finally:
        store.close()


def test_a_resent_original_costs_no_store_read(memory_store: MemoryStore) -> None:
    adapter = MemoryArtifactStore(memory_store, conversation="run-9")
    original = "Traceback (most recent call last):\n  File 'a.py', line 3\nKeyError: 'vat'\n"
    handle = make_handle(original)
    adapter.put(handle, original, {"turn": 2, "role": "tool"})
    reads: list[str] = []
    real_recall = memory_store.recall

    def counting_recall(key: str, **kwargs: object) -> object:
        reads.append(key)
        return real_recall(key, **kwargs)  # type: ignore[arg-type]

    memory_store.recall = counting_recall  # type: ignore[method-assign]
    adapter.put(handle, original, {"turn": 2, "role": "tool"})
    assert reads == []
    # Different content under the same handle is still checked and written.
    adapter.put(handle, original + "more", {"turn": 2, "role": "tool"})
    assert reads and adapter.get(handle) == original + "more"
