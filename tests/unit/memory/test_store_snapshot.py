"""MemoryStore.snapshot / restore through the real SQLite store: faithful, selective, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.errors import HiveCorruptionError, HiveValidationError
from hive_middleware.memory.snapshot import read_namespace, read_summary
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex
from hive_middleware.types import EdgeKind, MemoryKind

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _open(path: Path, namespace: tuple[str, ...] = ("acme", "a1")) -> MemoryStore:
    graph = SQLiteGraphStore(path)
    return MemoryStore(graph, InMemoryVectorIndex(), HashingEmbedder(64), namespace=namespace, on_close=graph.close)


@pytest.fixture
def source(tmp_path: Path) -> Iterator[MemoryStore]:
    store = _open(tmp_path / "source")
    cause = store.remember("the deploy failed at 10:02", valid_from=T0)
    store.remember("Alice lives in Paris", key="alice.city", kind=MemoryKind.SEMANTIC)
    store.supersede("alice.city", "Alice lives in Berlin", reason="she moved", valid_from=T0)
    store.remember("rollback started", caused_by=[cause.id])
    store.remember("temporary", key="tmp")
    store.forget("tmp", "no longer needed")
    store.remember("run pytest", key="proc", kind=MemoryKind.PROCEDURAL, metadata={"steps": ["pytest -q"]})
    store.remember("other agent note", namespace=("acme", "a2"), metadata={"author": "Agent Two"})
    store.remember("globex secret plan", namespace=("globex", "g1"))
    store.remember("call the lawyer", kind=MemoryKind.PROSPECTIVE, metadata={"trigger": "contract"},
                   namespace=("acme", "a2"))
    store.wait_indexed(10)
    yield store
    store.close()


def test_round_trip_keeps_history_time_and_edges(source: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "mem.hsnap"
    summary = source.snapshot(path)
    assert summary.total_records == 9
    assert [e.namespace for e in summary.namespaces] == [("acme", "a1"), ("acme", "a2"), ("globex", "g1")]
    target = _open(tmp_path / "target")
    try:
        assert target.restore(path) == 9
        for tenant in ("acme", "globex"):
            assert list(target.graph.scan(tenant)) == list(source.graph.scan(tenant))
        assert [(v.record, v.superseded_by) for v in target.history("alice.city")] == [
            (v.record, v.superseded_by) for v in source.history("alice.city")
        ]
        first = source.history("alice.city")[0].record
        assert target.recall("alice.city", as_of=first.recorded_at) == first
        assert target.recall("tmp") is None
        rollback = target.search("rollback", k=1)[0].record
        assert [s.edge.kind for s in target.why(rollback.id)] == [EdgeKind.CAUSED_BY]
        assert target.wait_indexed(10)
        assert target.search("Berlin", k=1)[0].record.content == "Alice lives in Berlin"
        assert target.graph.authors("acme") == frozenset({"Agent Two"})
        # Writes after a restore still sort after the restored history.
        later = target.remember("after restore")
        assert later.recorded_at > max(r.recorded_at for r in source.graph.scan("acme"))
    finally:
        target.close()


def test_selective_restore_and_reads(source: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "mem.hsnap"
    source.snapshot(path)
    size = path.stat().st_size
    assert read_summary(path).bytes_read < size
    one = read_namespace(path, ("acme", "a2"))
    assert [r.content for r in one.records] == ["other agent note", "call the lawyer"] and one.bytes_read < size
    target = _open(tmp_path / "target")
    try:
        assert target.prospective_matches("anything") == []
        assert target.restore(path, tenant="globex") == 1
        assert target.graph.tenants() == ["globex"]
        assert target.restore(path, namespaces=[("acme", "a2")]) == 2
        assert [r.content for r in target.graph.scan("acme")] == ["other agent note", "call the lawyer"]
        fired = target.prospective_matches("the contract is ready", namespace=("acme",))
        assert [r.content for r in fired] == ["call the lawyer"]
    finally:
        target.close()


def test_tenant_snapshot_holds_only_that_tenant(source: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "acme.hsnap"
    source.snapshot(path, tenant="acme")
    assert {e.namespace[0] for e in read_summary(path).namespaces} == {"acme"}
    assert b"globex secret" not in path.read_bytes()


def test_damaged_snapshot_restores_nothing(source: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "mem.hsnap"
    source.snapshot(path)
    summary = read_summary(path)
    data = bytearray(path.read_bytes())
    last = summary.namespaces[-1]
    data[summary.bytes_read + last.offset + last.length - 3] ^= 0xFF  # damage the last block only
    path.write_bytes(bytes(data))
    target = _open(tmp_path / "target")
    try:
        with pytest.raises(HiveCorruptionError):
            target.restore(path)
        assert target.graph.tenants() == []
        path.write_bytes(bytes(data[: len(data) // 2]))
        with pytest.raises(HiveCorruptionError):
            target.restore(path)
        assert target.graph.tenants() == []
    finally:
        target.close()


def test_restore_over_existing_records_is_refused_whole(source: MemoryStore, tmp_path: Path) -> None:
    path = tmp_path / "mem.hsnap"
    source.snapshot(path)
    before = list(source.graph.scan("acme"))
    with pytest.raises(HiveValidationError):
        source.restore(path)
    assert list(source.graph.scan("acme")) == before
