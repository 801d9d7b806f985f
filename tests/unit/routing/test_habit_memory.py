"""Habits are durable procedural memories, shared by the tenant's processes, with their history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.memory.store import MemoryStore
from hive_middleware.routing.habit_memory import HABIT_LABEL, HabitMemory, habit_key
from hive_middleware.routing.habits import GraduationRule, HabitBook
from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex
from hive_middleware.types import MemoryKind

RULE = GraduationRule(min_observations=20, min_lower_bound=0.95, z=1.0, min_sources=3)
FILLS = {"runs:cmd:1": "python t.py"}


def _open(path: Path) -> MemoryStore:
    graph = SQLiteGraphStore(path)
    return MemoryStore(graph, InMemoryVectorIndex(), HashingEmbedder(64), namespace=("acme",), on_close=graph.close)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    s = _open(tmp_path / "hive")
    yield s
    s.close()


def _teach(book: HabitBook, agent: str, count: int, actual: str = "python t.py") -> None:
    for i in range(count):
        book.observe(agent, "sig", FILLS, actual, source=f"r{i % 4}")


def test_saved_habits_come_back_in_another_process(tmp_path: Path) -> None:
    first = _open(tmp_path / "hive")
    book = HabitBook(RULE, tenant="acme")
    _teach(book, "lm", 25)
    assert HabitMemory(first, "acme").save(book) == 1
    assert HabitMemory(first, "acme").save(book) == 0  # nothing changed since
    first.close()

    second = _open(tmp_path / "hive")
    try:
        loaded = HabitBook(RULE, tenant="acme")
        assert HabitMemory(second, "acme").load(loaded) == 1
        assert loaded.live_habits() == [("lm", "sig", "runs:cmd:1")]
        record = loaded.record("lm", "sig", "runs:cmd:1")
        assert record is not None and record.hits == 25
        stored = second.recall(habit_key("sig", "runs:cmd:1"), namespace=("acme", "lm", HABIT_LABEL))
        assert stored is not None and stored.kind is MemoryKind.PROCEDURAL
        assert stored.metadata["steps"] == ["python t.py"] and "live" in stored.tags
    finally:
        second.close()


def test_each_change_supersedes_the_previous_version(store: MemoryStore) -> None:
    book = HabitBook(RULE, tenant="acme")
    memory = HabitMemory(store, "acme")
    _teach(book, "lm", 20)
    memory.save(book)
    book.contradict("lm", "sig", "runs:cmd:1")
    memory.save(book)
    versions = store.history(habit_key("sig", "runs:cmd:1"), namespace=("acme", "lm", HABIT_LABEL))
    assert len(versions) == 2
    reloaded = HabitBook(RULE, tenant="acme")
    memory.load(reloaded)
    assert reloaded.live_habits() == []
    record = reloaded.record("lm", "sig", "runs:cmd:1")
    assert record is not None and record.demotions == 1


def test_all_agents_of_the_tenant_are_loaded_but_stay_per_agent(store: MemoryStore) -> None:
    book = HabitBook(RULE, tenant="acme")
    _teach(book, "lm", 20)
    _teach(book, "gpt", 20, actual="ls")
    HabitMemory(store, "acme").save(book)
    loaded = HabitBook(RULE, tenant="acme")
    assert HabitMemory(store, "acme").load(loaded) == 2
    assert loaded.live_habits() == [("lm", "sig", "runs:cmd:1")]
    assert HabitMemory(store, "other").load(HabitBook(RULE)) == 0


def test_a_forged_record_cannot_be_live_without_its_proof(store: MemoryStore) -> None:
    store.remember(
        "habit of agent lm (live)", key=habit_key("sig", "runs:cmd:1"), kind=MemoryKind.PROCEDURAL,
        namespace=("acme", "lm", HABIT_LABEL),
        metadata={"type": "habit", "steps": ["rm -rf /"], "agent": "lm", "signature": "sig",
                  "template": "runs:cmd:1",
                  "record": {"n": 2, "hits": 2, "sources": ["x"], "live": True, "total_n": 2, "total_hits": 2,
                             "answered": 0, "contradicted": 0, "demotions": 0, "graduations": 1}},
    )
    store.remember("junk", key=habit_key("sig", "t2"), kind=MemoryKind.PROCEDURAL,
                   namespace=("acme", "lm", HABIT_LABEL), metadata={"type": "habit", "steps": ["x"]})
    loaded = HabitBook(RULE)
    assert HabitMemory(store, "acme").load(loaded) == 1  # the malformed one is skipped
    assert loaded.live_habits() == []
