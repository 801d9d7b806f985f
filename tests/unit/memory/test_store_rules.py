"""Conflict resolution and cognitive-kind rules through the real store (SQLite + hashing embedder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.resolve import CONFIRMS_KEY
from hive_middleware.memory.store import AsyncMemoryStore, MemoryDraft, MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import EdgeKind, MemoryKind

SEM = MemoryKind.SEMANTIC
T0_MS = 1_750_000_000_000
DAY_MS = 86_400_000
NS = ("acme", "agent-1")


class Wall:
    """An injected wall clock (milliseconds)."""

    def __init__(self) -> None:
        self.ms = T0_MS

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ms / 1000, tz=UTC)


MakeStore = Callable[..., MemoryStore]


@pytest.fixture(params=["sqlite", "in-memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    opened: list[MemoryStore] = []

    def make(wall: Wall | None = None, **config: Any) -> MemoryStore:
        graph: Any = SQLiteGraphStore(tmp_path / f"hive{len(opened)}") if request.param == "sqlite" else InMemoryGraphStore()
        store = MemoryStore(
            graph, InMemoryVectorIndex(), HashingEmbedder(128), namespace=NS,
            config=MemoryConfig(**config), clock=HybridClock(wall or Wall()), start_worker=False,
            on_close=graph.close,
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def _current_contents(store: MemoryStore, query: str) -> list[str]:
    return [r.record.content for r in store.search(query, k=20)]


# --- conflict resolution ---------------------------------------------------------------


def test_duplicate_fact_confirms_instead_of_piling_up(make_store: MakeStore) -> None:
    store = make_store()
    first = store.remember("Alice likes green tea", kind=SEM, confidence=0.5)
    again = store.remember("alice likes green tea.", kind=SEM, metadata={"source": "turn 7"})
    assert again.id == first.id
    assert again.confidence == pytest.approx(0.6)
    assert _current_contents(store, "green tea") == ["Alice likes green tea"]
    confirmations = [e for e in store.graph.edges("acme", first.id) if e.kind is EdgeKind.CONFIRMED_BY]
    assert len(confirmations) == 1 and confirmations[0].src == first.id
    observation = store.graph.get("acme", [confirmations[0].dst])[confirmations[0].dst]
    assert observation.expired_at is not None
    assert observation.metadata == {"source": "turn 7", CONFIRMS_KEY: first.id}


def test_cue_update_supersedes_the_old_fact(make_store: MakeStore) -> None:
    store = make_store()
    old = store.remember("Alice lives in Paris", kind=SEM)
    new = store.remember("Alice moved to Berlin", kind=SEM)
    assert new.id != old.id
    assert _current_contents(store, "Alice Paris Berlin") == ["Alice moved to Berlin"]
    assert [s.record.id for s in store.why(new.id)] == [old.id]
    then = store.search("Alice Paris", as_of=old.recorded_at)
    assert [r.record.id for r in then] == [old.id]
    # A keyless fact lives under its slot's derived key, found by one lookup.
    assert (old.key, new.key) == ("fact:alice:location", "fact:alice:location")
    assert store.recall("fact:alice:location") == new


def test_cue_update_of_a_keyed_fact_takes_its_key(make_store: MakeStore) -> None:
    store = make_store()
    store.remember("Alice lives in Paris", key="alice.city", kind=SEM)
    new = store.remember("Alice moved to Berlin", kind=SEM)
    assert new.key == "alice.city"
    assert store.recall("alice.city") == new
    assert [v.record.content for v in store.history("alice.city")] == ["Alice lives in Paris", "Alice moved to Berlin"]


def test_negation_invalidates_and_contradicts(make_store: MakeStore) -> None:
    store = make_store()
    job = store.remember("Bob works at Acme", kind=SEM)
    store.remember("Bob likes chess", kind=SEM)
    negation = store.remember("Bob no longer works at Acme", kind=SEM)
    assert store.graph.get("acme", [job.id])[job.id].expired_at is not None
    assert any(e.kind is EdgeKind.CONTRADICTS and e.dst == job.id for e in store.graph.edges("acme", negation.id))
    assert "Bob works at Acme" not in _current_contents(store, "Bob Acme chess")


def test_same_key_identical_content_confirms(make_store: MakeStore) -> None:
    store = make_store()
    first = store.remember("deploy at noon", key="deploy")
    again = store.remember("deploy at noon", key="deploy")
    assert again.id == first.id
    assert len(store.history("deploy")) == 1
    # Same content with new metadata is a new value (a key-value put), not a duplicate.
    changed = store.remember("deploy at noon", key="deploy", metadata={"value": {"n": 2}})
    assert changed.id != first.id and store.recall("deploy") == changed


def test_events_repeat_and_are_not_merged(make_store: MakeStore) -> None:
    store = make_store()
    a = store.remember("I went running")
    b = store.remember("I went running")
    assert a.id != b.id
    assert len(store.search("running", k=10)) == 2


def test_batch_duplicates_confirm_within_the_batch(make_store: MakeStore) -> None:
    store = make_store()
    out = store.remember_many([
        MemoryDraft("Carol prefers email", kind=SEM, confidence=0.5),
        MemoryDraft("Carol prefers email.", kind=SEM),
        MemoryDraft("Dan prefers phone", kind=SEM),
    ])
    assert out[0].id == out[1].id and out[0].confidence == pytest.approx(0.6)
    assert out[2].id != out[0].id


def test_resolution_can_be_turned_off(make_store: MakeStore) -> None:
    store = make_store(resolve_conflicts=False)
    a = store.remember("Alice likes green tea", kind=SEM)
    b = store.remember("Alice likes green tea", kind=SEM)
    assert a.id != b.id


# --- kinds -------------------------------------------------------------------------------


def test_working_slots_are_bounded_and_cleared_at_task_end(make_store: MakeStore) -> None:
    wall = Wall()
    store = make_store(wall, working_slots=3)
    for i in range(5):
        wall.advance(10)
        store.remember(f"scratch note {i}", kind=MemoryKind.WORKING, metadata={"task": "T"})
    store.remember("other task note", kind=MemoryKind.WORKING, metadata={"task": "U"})
    current = [r.record.content for r in store.search("scratch", k=10, kinds=[MemoryKind.WORKING])]
    assert sorted(current) == ["scratch note 2", "scratch note 3", "scratch note 4"]
    cleared = store.end_task("T")
    assert len(cleared) == 3
    assert store.search("scratch", k=10, kinds=[MemoryKind.WORKING]) == []
    assert [r.record.content for r in store.search("other task", k=5)] == ["other task note"]


def test_sensory_expires_after_ttl(make_store: MakeStore) -> None:
    wall = Wall()
    store = make_store(wall, sensory_ttl_s=60)
    seen = store.remember("red light blinking on panel", key="panel", kind=MemoryKind.SENSORY)
    assert store.recall("panel") == seen
    assert [r.record.id for r in store.search("red light panel")] == [seen.id]
    wall.advance(61_000)
    assert store.recall("panel") is None
    assert store.search("red light panel") == []
    # What was seen then is still visible as of then.
    assert store.recall("panel", as_of=seen.recorded_at) == seen
    result = store.sweep()
    assert result.sensory_expired == (seen.id,)
    assert store.graph.get("acme", [seen.id])[seen.id].expired_at is not None


def test_prospective_reminders_fire_on_matching_content(make_store: MakeStore) -> None:
    store = make_store()
    visa = store.remember(
        "ask Alice about her visa", kind=MemoryKind.PROSPECTIVE, key="visa", metadata={"trigger": {"keywords": ["alice"]}}
    )
    assert [r.id for r in store.prospective_matches("Alice joined the call")] == [visa.id]
    assert store.prospective_matches("Bob joined the call") == []
    # Reminders written after an earlier call are found; forgotten ones stop firing.
    promo = store.remember(
        "congratulate her", kind=MemoryKind.PROSPECTIVE, metadata={"trigger": {"regex": r"promot(ed|ion)"}}
    )
    assert [r.id for r in store.prospective_matches("Alice got promoted")] == [visa.id, promo.id]
    store.forget("visa", "asked")
    assert [r.id for r in store.prospective_matches("Alice got promoted")] == [promo.id]
    with pytest.raises(HiveValidationError):
        store.remember("no trigger", kind=MemoryKind.PROSPECTIVE)
    with pytest.raises(HiveValidationError):
        store.remember("bad", kind=MemoryKind.PROSPECTIVE, metadata={"trigger": {"regex": "("}})


def test_consolidation_writes_facts_derived_from_episodes(make_store: MakeStore) -> None:
    store = make_store()
    d = [datetime(2024, 3, day, tzinfo=UTC) for day in (1, 2, 3)]
    e1 = store.remember("Alice lives in Paris", valid_from=d[0])
    store.remember("We talked about the weather", valid_from=d[0])
    e2 = store.remember("Alice moved to Berlin", valid_from=d[1])
    (fact,) = store.consolidate()
    assert fact.kind is SEM and fact.key == "fact:alice:location"
    assert fact.content == "alice's location is berlin"
    assert fact.confidence == pytest.approx(0.5)
    assert [s.record.id for s in store.why(fact.id)] == [e2.id]
    assert store.consolidate() == []  # idempotent
    assert len(store.history("fact:alice:location")) == 1
    e3 = store.remember("Alice moved to Berlin", valid_from=d[2])
    (again,) = store.consolidate()
    assert again.id == fact.id and again.confidence == pytest.approx(2 / 3)
    assert {s.record.id for s in store.why(fact.id)} == {e2.id, e3.id}
    store.remember("Alice lives in Rome", valid_from=d[2] + timedelta(hours=1))
    (moved,) = store.consolidate()
    assert moved.content == "alice's location is rome"
    assert [v.record.content for v in store.history("fact:alice:location")] == [
        "alice's location is berlin", "alice's location is rome",
    ]
    assert e1.id not in {s.record.id for s in store.why(moved.id) if s.depth == 1}


def test_semantic_confidence_decays_and_confirmation_restarts_it(make_store: MakeStore) -> None:
    wall = Wall()
    store = make_store(wall, semantic_half_life_days=10)
    fact = store.remember("The API rate limit is 100 per minute", key="limit", kind=SEM, confidence=0.8)
    assert store.confidence("limit") == pytest.approx(0.8)
    assert store.confidence("limit", now=wall.now + timedelta(days=10)) == pytest.approx(0.4)
    wall.advance(10 * DAY_MS)
    confirmed = store.remember("The API rate limit is 100 per minute", kind=SEM)
    assert confirmed.id == fact.id and confirmed.confidence == pytest.approx(0.5)
    assert store.confidence("limit") == pytest.approx(0.5)
    assert store.confidence(fact.id, now=wall.now + timedelta(days=10)) == pytest.approx(0.25)
    episode = store.remember("an episode", key="ep", confidence=0.7)
    assert store.confidence(episode.id, now=wall.now + timedelta(days=100)) == 0.7


def test_procedures_keep_steps_and_count_uses(make_store: MakeStore) -> None:
    store = make_store()
    proc = store.remember(
        "run the test suite", key="tests", kind=MemoryKind.PROCEDURAL,
        metadata={"steps": ["pip install -e .", "pytest -q"]},
    )
    assert proc.metadata["usage_count"] == 0
    store.use_procedure("tests")
    used = store.use_procedure("tests")
    assert used.metadata["usage_count"] == 2 and used.metadata["steps"] == ["pip install -e .", "pytest -q"]
    assert store.recall("tests") == used
    with pytest.raises(HiveValidationError):
        store.remember("broken", kind=MemoryKind.PROCEDURAL, metadata={"steps": []})
    store.remember("a fact", key="fact", kind=SEM)
    with pytest.raises(HiveValidationError):
        store.use_procedure("fact")


def test_sweep_evicts_least_recently_used_beyond_the_limit(make_store: MakeStore) -> None:
    wall = Wall()
    store = make_store(wall, max_records_per_namespace=3)
    ids = []
    for i in range(5):
        wall.advance(10)
        ids.append(store.remember(f"note number {i} about topic{i}").id)
    result = store.sweep()
    assert result.evicted == tuple(ids[:2])
    assert sorted(r.record.id for r in store.search("note number", k=10)) == sorted(ids[2:])


@pytest.mark.anyio
async def test_async_twins(make_store: MakeStore) -> None:
    astore = AsyncMemoryStore(make_store())
    await astore.remember("ping the oncall", kind=MemoryKind.PROSPECTIVE, metadata={"trigger": "outage"})
    assert len(await astore.prospective_matches("major outage now")) == 1
    await astore.remember("Alice lives in Paris")
    assert len(await astore.consolidate()) == 1
    assert (await astore.sweep()).evicted == ()


_FACTS = [
    "Alice lives in Paris", "Alice moved to Berlin", "alice lives in paris.", "Bob works at Acme",
    "Bob no longer works at Acme", "Alice likes green tea", "Alice likes green tea and oolong",
    "The build server is now down", "The build server is now up", "Alice's email is a@x.org",
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(_FACTS), min_size=1, max_size=12))
def test_no_two_current_facts_say_the_same_thing(contents: list[str]) -> None:
    from hive_middleware.memory.cues import normalize_text, single_cue

    store = MemoryStore(InMemoryGraphStore(), namespace=NS, start_worker=False)
    for content in contents:
        store.remember(content, kind=SEM)
    current = [r for r in store.graph.scan("acme") if r.expired_at is None]
    norms = [normalize_text(r.content) for r in current]
    assert len(norms) == len(set(norms))
    slots = [c.slot for r in current if (c := single_cue(r.content)) is not None and not c.negated]
    assert len(slots) == len(set(slots))  # one current value per entity/attribute
