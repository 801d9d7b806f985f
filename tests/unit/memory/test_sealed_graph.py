"""SealedGraphStore under the memory engine: what reaches the back-end, and what callers get back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.config import HiveConfig, MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveValidationError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.resolve import CONFIRMED_BY_KEY
from hive_middleware.memory.sealed_graph import (
    KEY_CHECK_KEY,
    KEY_CHECK_TENANT,
    SEALED_METADATA_KEY,
    SealedGraphStore,
    seal_graph,
)
from hive_middleware.memory.sealing import Sealer, generate_key, is_sealed
from hive_middleware.memory.store import MemoryStore
from hive_middleware.memory.writes import PutRecord, SetMetadata
from hive_middleware.testing.conformance.graph_records import make_record
from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex
from hive_middleware.types import EdgeKind, MemoryKind

ALICE = ("acme", "alice-bot", "t1")
BOB = ("acme", "bob-bot", "t2")
WORDS = ("alice", "paris", "berlin", "port", "5433", "staging", "database", "lives")


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[SealedGraphStore]:
    sealed = SealedGraphStore(SQLiteGraphStore(tmp_path / "hive"), Sealer(os.urandom(32), source="TEST_KEY"))
    yield sealed
    sealed.close()


def _store(graph: SealedGraphStore, **config: Any) -> MemoryStore:
    return MemoryStore(
        graph, InMemoryVectorIndex(), HashingEmbedder(128), namespace=ALICE,
        config=MemoryConfig(**config), start_worker=False,
    )


def _raw_text(graph: SealedGraphStore) -> str:
    """Everything the back-end holds for tenant acme, as one lower-case string."""
    inner = graph.inner
    parts: list[str] = []
    for record in inner.scan("acme"):
        parts += [record.content, repr(record.metadata)]
        if record.key is not None:
            for version in inner.versions(record.namespace, record.key):
                parts += [str(version.reason), str(version.expired_reason)]
        parts += [repr(edge.metadata) for edge in inner.edges("acme", record.id)]
    return " ".join(parts).lower()


def test_confirmations_and_contradictions_between_agents_work_sealed(graph: SealedGraphStore) -> None:
    store = _store(graph, conflict_scope="tenant")
    fact = "The staging database runs on port 5433"
    first = store.remember(fact, kind=MemoryKind.SEMANTIC, namespace=ALICE, confidence=0.5)
    confirmed = store.remember(fact.lower() + ".", kind=MemoryKind.SEMANTIC, namespace=BOB, confidence=0.6)
    assert confirmed.id == first.id and confirmed.metadata[CONFIRMED_BY_KEY] == ["bob-bot"]

    paris = store.remember("Alice lives in Paris", kind=MemoryKind.SEMANTIC, namespace=ALICE)
    berlin = store.remember("Alice lives in Berlin", kind=MemoryKind.SEMANTIC, namespace=BOB)
    (version,) = store.history("fact:alice:location", namespace=ALICE)
    assert version.record.content == "Alice lives in Paris"
    assert version.expired_reason is not None and "agent 'bob-bot' contradicts agent 'alice-bot'" in version.expired_reason
    (step,) = [s for s in store.why(berlin.id, namespace=BOB) if s.edge.kind is EdgeKind.CONTRADICTS]
    assert step.record.id == paris.id and "'alice-bot'" in step.edge.metadata["reason"]
    assert [h.record.id for h in store.search("where does Alice live", namespace=("acme",))] == [berlin.id]
    assert store.index_pending() > 0  # the outbox hands the worker opened text

    raw = _raw_text(graph)
    assert not [word for word in WORDS if word in raw]
    assert raw.count("hive-sealed:v1:") >= 6  # records, reasons and the contradiction edge
    store.close()


def test_the_back_end_holds_blind_tokens_and_seals_only(graph: SealedGraphStore) -> None:
    metadata = {"author": "Ana", "context": "What ships today?", "ticket": "PAY-7"}
    record = replace(make_record("Deploy the payroll service", key="deploy"), metadata=metadata)
    graph.commit([PutRecord(record, reason="release plan")], HybridClock())
    stored = graph.inner.get("acme", [record.id])[record.id]
    # "the" is a stopword; "deploy", "payroll", "service" and "ships", "today" become tokens.
    assert [len(t) for t in stored.content.split()] == [20, 20, 20] and stored.content.replace(" ", "").isdigit()
    assert set(stored.metadata) == {"author", "context", SEALED_METADATA_KEY}
    assert stored.metadata["author"] == "Ana" and len(stored.metadata["context"].split()) == 2
    assert is_sealed(stored.metadata[SEALED_METADATA_KEY])
    opened = graph.get("acme", [record.id])[record.id]
    assert opened == replace(stored, content=record.content, metadata=metadata)
    assert is_sealed(graph.inner.versions(record.namespace, "deploy")[0].reason)
    assert graph.versions(record.namespace, "deploy")[0].reason == "release plan"


def test_set_metadata_reseals_with_the_content(graph: SealedGraphStore) -> None:
    clock = HybridClock()
    record = make_record("The office moved to Lyon")
    graph.commit([PutRecord(record)], clock)
    graph.commit([SetMetadata("acme", record.id, {"context": "Where is the office?", "uses": 2})], clock)
    opened = graph.get("acme", [record.id])[record.id]
    assert opened.content == "The office moved to Lyon" and opened.metadata == {"context": "Where is the office?", "uses": 2}
    # A record stored and given metadata in one commit is sealed from the commit's own copy.
    later = make_record("The printer is on floor 3")
    graph.commit([PutRecord(later), SetMetadata("acme", later.id, {"floor": 3})], clock)
    assert graph.get("acme", [later.id])[later.id].metadata == {"floor": 3}
    assert [rid for rid, _ in graph.keyword_search("acme", "office", 5)] == [record.id]


def test_reserved_metadata_is_refused_before_anything_is_written(graph: SealedGraphStore) -> None:
    bad = replace(make_record("text"), metadata={SEALED_METADATA_KEY: "x"})
    with pytest.raises(HiveValidationError, match="reserved for sealed memory"):
        graph.commit([PutRecord(bad)], HybridClock())
    assert graph.inner.tenants() == []


def test_seal_graph_writes_the_key_check_once_and_hides_its_tenant(tmp_path: Path) -> None:
    environ = {"SEALING_KEY": generate_key()}
    config = MemoryConfig(encryption_key_env="SEALING_KEY")  # type: ignore[call-arg]
    inner = SQLiteGraphStore(tmp_path / "hive")
    sealed = seal_graph(inner, config, where="here", environ=environ)
    assert isinstance(sealed, SealedGraphStore)
    again = seal_graph(inner, config, where="here", environ=environ)  # the record is found, not written twice
    assert len(inner.versions((KEY_CHECK_TENANT,), KEY_CHECK_KEY)) == 1
    assert inner.tenants() == [KEY_CHECK_TENANT] and again.tenants() == []
    with pytest.raises(HiveConfigError, match="the memory in here is sealed"):
        seal_graph(inner, MemoryConfig(), where="here")  # type: ignore[call-arg]
    inner.close()


def test_seal_graph_is_a_no_op_when_off(tmp_path: Path) -> None:
    inner = SQLiteGraphStore(tmp_path / "hive")
    assert seal_graph(inner, MemoryConfig(), where="here") is inner  # type: ignore[call-arg]
    assert inner.tenants() == []
    inner.close()


@pytest.mark.parametrize(
    ("name", "says"),
    [("HIVE_MEMORY_KEY", "must not start with HIVE_"), ("1KEY", "should match pattern"), ("MY KEY", "should match pattern")],
)
def test_the_key_variable_name_is_checked_in_config(name: str, says: str) -> None:
    with pytest.raises(HiveConfigError, match=says):
        HiveConfig.load(environ={}, memory={"encryption_key_env": name})
