"""Fusion and time signals of hybrid retrieval."""

from __future__ import annotations

from hive_middleware.config import MemoryConfig
from hive_middleware.memory.retrieval import present_intent, rrf_fuse
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import InMemoryGraphStore


def test_rrf_fuse_weights_ranks_and_ties() -> None:
    fused = rrf_fuse({"a": ["x", "y", "x"], "b": ["y", "z"]}, {"a": 1.0, "b": 2.0}, rrf_k=1)
    assert [rid for rid, _, _ in fused] == ["y", "z", "x"]
    assert fused[0][2] == {"a": 2, "b": 1}
    assert rrf_fuse({"a": ["x"]}, {"a": 0.0}, rrf_k=1) == []
    assert [rid for rid, _, _ in rrf_fuse({"a": ["q", "p"], "b": ["p", "q"]}, {}, rrf_k=5)] == ["p", "q"]


def test_present_intent_strips_time_cues() -> None:
    assert present_intent("Who currently owns payments?") == (True, "Who owns payments")
    assert present_intent("What is the deadline now") == (True, "What is the deadline")
    assert present_intent("Who owns payments?") == (False, "Who owns payments?")
    assert present_intent("now") == (True, "now")


def test_present_questions_prefer_the_latest_statement() -> None:
    store = MemoryStore(InMemoryGraphStore(), namespace=("acme",), config=MemoryConfig(weight_recency_present=1.5))
    store.remember("Tomas owns the payments module.")
    for i in range(3):
        store.remember(f"Unrelated standup note {i}.")
    latest = store.remember("Kwame owns the payments module from today.")
    assert store.search("Who currently owns the payments module?", k=1)[0].record.id == latest.id
    top = store.search("Who owns the payments module?", k=2)
    assert "recency" not in top[0].signals
