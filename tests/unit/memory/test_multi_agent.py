"""Several agents, one memory: confirmations count agents, contradictions name both, trust weighs ranking."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.config import HiveConfig, MemoryConfig
from hive_middleware.errors import HiveConfigError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.conflicts import NewMemory, WriteAction, decide
from hive_middleware.memory.resolve import (
    AGENT_EDGE_KEY,
    CONFIRMED_BY_KEY,
    MAX_CONFIRMED_CONFIDENCE,
    TARGET_AGENT_EDGE_KEY,
    agent_confirmed_confidence,
)
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import EdgeKind, MemoryKind, MemoryRecord

SEM = MemoryKind.SEMANTIC
ALICE = ("acme", "alice-bot", "t1")
BOB = ("acme", "bob-bot", "t2")
CAROL = ("acme", "carol-bot", "t3")
T0_MS = 1_750_000_000_000

MakeStore = Callable[..., MemoryStore]


@pytest.fixture(params=["sqlite", "in-memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    opened: list[MemoryStore] = []

    def make(**config: Any) -> MemoryStore:
        graph: Any = SQLiteGraphStore(tmp_path / f"hive{len(opened)}") if request.param == "sqlite" else InMemoryGraphStore()
        store = MemoryStore(
            graph, InMemoryVectorIndex(), HashingEmbedder(128), namespace=ALICE,
            config=MemoryConfig(**config), clock=HybridClock(lambda: T0_MS), start_worker=False,
            on_close=graph.close,
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def _get(store: MemoryStore, rid: str) -> MemoryRecord:
    return store.graph.get("acme", [rid])[rid]


# --- confirmation ------------------------------------------------------------------------


def test_each_other_agent_confirms_once(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant")
    fact = "The staging database runs on port 5433"
    first = store.remember(fact, kind=SEM, namespace=ALICE, confidence=0.5)

    by_bob = store.remember(fact.lower() + ".", kind=SEM, namespace=BOB, confidence=0.6)
    assert by_bob.id == first.id and by_bob.namespace == ALICE
    assert by_bob.confidence == pytest.approx(1 - 0.5 * (1 - 0.6))
    assert by_bob.metadata[CONFIRMED_BY_KEY] == ["bob-bot"]

    # Bob again (same thread, another thread) and Alice again: confirmed, not raised.
    for ns in (BOB, ("acme", "bob-bot", "t9"), ALICE):
        again = store.remember(fact, kind=SEM, namespace=ns, confidence=1.0)
        assert again.id == first.id
        assert again.confidence == pytest.approx(0.8)
        assert again.metadata[CONFIRMED_BY_KEY] == ["bob-bot"]

    by_carol = store.remember(fact, kind=SEM, namespace=CAROL, confidence=1.0)
    assert by_carol.confidence == pytest.approx(MAX_CONFIRMED_CONFIDENCE)  # capped below 1
    assert by_carol.metadata[CONFIRMED_BY_KEY] == ["bob-bot", "carol-bot"]

    # Search shows one record with the raised confidence; nothing new is current.
    hits = store.search("staging database port", k=10, namespace=("acme",))
    assert [(h.record.id, h.record.confidence) for h in hits] == [(first.id, pytest.approx(MAX_CONFIRMED_CONFIDENCE))]
    # why() lists the other agents' confirmations (not the repeats within Alice's namespace).
    steps = [s for s in store.why(first.id, namespace=ALICE) if s.edge.kind is EdgeKind.CONFIRMED_BY]
    assert sorted(s.record.namespace[1] for s in steps) == ["bob-bot", "bob-bot", "bob-bot", "carol-bot"]
    assert all(s.edge.metadata[TARGET_AGENT_EDGE_KEY] == "alice-bot" for s in steps)
    assert {s.edge.metadata[AGENT_EDGE_KEY] for s in steps} == {"bob-bot", "carol-bot"}
    assert all(s.record.metadata["confirms"] == first.id and s.record.expired_at is not None for s in steps)


def test_confirmation_is_weighted_by_the_confirming_agents_trust(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant", agent_trust={"bob-bot": 0.5, "carol-bot": 0.0})
    first = store.remember("The CI cache lives in bucket hive-ci-cache", kind=SEM, namespace=ALICE, confidence=0.5)
    by_bob = store.remember("The CI cache lives in bucket hive-ci-cache", kind=SEM, namespace=BOB, confidence=0.6)
    assert by_bob.confidence == pytest.approx(1 - 0.5 * (1 - 0.5 * 0.6))
    by_carol = store.remember("The CI cache lives in bucket hive-ci-cache", kind=SEM, namespace=CAROL)
    assert by_carol.id == first.id
    assert by_carol.confidence == pytest.approx(by_bob.confidence)  # an untrusted agent adds nothing
    assert by_carol.metadata[CONFIRMED_BY_KEY] == ["bob-bot", "carol-bot"]


def test_same_key_in_another_agents_namespace_confirms_it(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant")
    first = store.remember("deploy window is Friday 18:00", key="deploy.window", kind=SEM, namespace=ALICE,
                           confidence=0.4)
    again = store.remember("deploy window is Friday 18:00", key="deploy.window", kind=SEM, namespace=BOB,
                           confidence=0.5)
    assert again.id == first.id and again.confidence == pytest.approx(0.7)
    assert len(store.history("deploy.window", namespace=ALICE)) == 1


def test_agentless_writer_confirms_by_repetition(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant")
    first = store.remember("The on-call rota is in the wiki", kind=SEM, namespace=ALICE, confidence=0.5)
    # A tenant-level write names no agent, so it cannot be counted once: each adds confirm_delta.
    again = store.remember("The on-call rota is in the wiki", kind=SEM, namespace=("acme",))
    assert again.id == first.id and again.confidence == pytest.approx(0.6)
    assert CONFIRMED_BY_KEY not in again.metadata


def test_noisy_or_never_lowers_and_stays_below_one() -> None:
    assert agent_confirmed_confidence(1.0, 1.0, 1.0) == 1.0  # already certain: kept, not lowered
    assert agent_confirmed_confidence(0.9, 1.0, 1.0) == MAX_CONFIRMED_CONFIDENCE
    assert agent_confirmed_confidence(0.5, 0.5, 0.5) == pytest.approx(0.625)
    assert agent_confirmed_confidence(0.5, 1.0, 0.0) == 0.5


# --- contradiction -----------------------------------------------------------------------


def test_contradicting_another_agents_fact_invalidates_it_naming_both(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant")
    paris = store.remember("Alice lives in Paris", kind=SEM, namespace=ALICE)
    berlin = store.remember("Alice lives in Berlin", kind=SEM, namespace=BOB)
    assert berlin.id != paris.id and berlin.namespace == BOB
    old = _get(store, paris.id)
    assert old.expired_at is not None  # closed, never overwritten

    (version,) = store.history("fact:alice:location", namespace=ALICE)  # still in history
    assert version.record.id == paris.id
    assert version.expired_reason is not None
    assert "agent 'bob-bot' contradicts agent 'alice-bot'" in version.expired_reason
    assert store.recall("fact:alice:location", namespace=BOB) == berlin

    # why() shows the contradiction from both sides, the edge naming both agents.
    (step,) = [s for s in store.why(berlin.id, namespace=BOB) if s.edge.kind is EdgeKind.CONTRADICTS]
    assert step.record.id == paris.id
    assert (step.edge.metadata[AGENT_EDGE_KEY], step.edge.metadata[TARGET_AGENT_EDGE_KEY]) == ("bob-bot", "alice-bot")
    assert "'bob-bot'" in step.edge.metadata["reason"] and "'alice-bot'" in step.edge.metadata["reason"]
    assert [s.record.id for s in store.why(paris.id, namespace=ALICE)] == [berlin.id]

    # Current belief is Bob's; as of before it, Alice's.
    assert [h.record.id for h in store.search("where does Alice live", namespace=("acme",))] == [berlin.id]
    assert [h.record.id for h in store.search("Alice Paris", namespace=("acme",), as_of=paris.recorded_at)] == [paris.id]


def test_same_key_with_another_value_is_a_contradiction(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant")
    green = store.remember("the nightly build is green", key="build.status", kind=SEM, namespace=ALICE)
    red = store.remember("the nightly build is red", key="build.status", kind=SEM, namespace=BOB)
    assert red.id != green.id and store.recall("build.status", namespace=BOB) == red
    assert store.recall("build.status", namespace=ALICE) is None
    (version,) = store.history("build.status", namespace=ALICE)
    assert version.expired_reason is not None and "'bob-bot' contradicts agent 'alice-bot'" in version.expired_reason
    assert any(
        e.kind is EdgeKind.CONTRADICTS and e.dst == green.id for e in store.graph.edges("acme", red.id)
    )


def test_negation_by_another_agent_invalidates(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="tenant")
    job = store.remember("Bob works at Acme", kind=SEM, namespace=ALICE)
    negation = store.remember("Bob no longer works at Acme", kind=SEM, namespace=BOB)
    assert _get(store, job.id).expired_at is not None
    steps = store.why(negation.id, namespace=BOB)
    assert [(s.record.id, s.edge.kind) for s in steps] == [(job.id, EdgeKind.CONTRADICTS)]
    assert "'bob-bot' contradicts agent 'alice-bot'" in steps[0].edge.metadata["reason"]


def test_default_scope_keeps_agents_apart(make_store: MakeStore) -> None:
    store = make_store()  # conflict_scope="namespace"
    paris = store.remember("Alice lives in Paris", kind=SEM, namespace=ALICE, confidence=0.5)
    berlin = store.remember("Alice lives in Berlin", kind=SEM, namespace=BOB)
    same = store.remember("Alice lives in Paris", kind=SEM, namespace=CAROL)
    assert len({paris.id, berlin.id, same.id}) == 3
    assert _get(store, paris.id).expired_at is None and _get(store, paris.id).confidence == 0.5


def test_agent_scope_shares_threads_not_agents(make_store: MakeStore) -> None:
    store = make_store(conflict_scope="agent")
    paris = store.remember("Alice lives in Paris", kind=SEM, namespace=ALICE)
    moved = store.remember("Alice lives in Rome", kind=SEM, namespace=("acme", "alice-bot", "t2"))
    assert _get(store, paris.id).expired_at is not None
    (version,) = store.history("fact:alice:location", namespace=ALICE)
    assert version.expired_reason is not None and "thread 't2'" in version.expired_reason
    other = store.remember("Alice lives in Oslo", kind=SEM, namespace=BOB)
    assert _get(store, moved.id).expired_at is None and _get(store, other.id).expired_at is None


def test_own_namespace_is_decided_first() -> None:
    # An identical record of the writer's own namespace wins over another agent's.
    own = MemoryRecord(id="z-own", namespace=BOB, kind=SEM, content="Alice lives in Paris", recorded_at=1)
    foreign = MemoryRecord(id="a-foreign", namespace=ALICE, kind=SEM, content="Alice lives in Paris", recorded_at=2)
    other_tenant = MemoryRecord(id="0", namespace=("globex", "bob-bot", "t2"), kind=SEM,
                                content="Alice lives in Paris", recorded_at=3)
    new = NewMemory("Alice lives in Paris", kind=SEM, namespace=BOB, scope=("acme",))
    d = decide(new, [foreign, own, other_tenant])
    assert (d.op, d.target_id) == (WriteAction.NOOP, "z-own") and "agent" not in d.reason
    d = decide(new, [foreign, other_tenant])
    assert (d.op, d.target_id) == (WriteAction.NOOP, "a-foreign")
    assert d.reason.startswith("agent 'bob-bot' confirms agent 'alice-bot'")
    assert decide(new, [other_tenant]).op is WriteAction.ADD  # never past the tenant
    moved = NewMemory("Alice lives in Berlin", kind=SEM, namespace=BOB, scope=("acme",))
    d = decide(moved, [foreign])
    assert (d.op, d.target_id) == (WriteAction.INVALIDATE, "a-foreign")
    # A refinement of another agent's record supersedes it (it says the same and more).
    note = MemoryRecord(id="n", namespace=ALICE, kind=SEM, content="release notes drafted for v2", recorded_at=1)
    d = decide(NewMemory("release notes drafted for v2 and reviewed", kind=SEM, namespace=BOB, scope=("acme",)), [note])
    assert (d.op, d.target_id) == (WriteAction.UPDATE, "n") and "'bob-bot' refines" in d.reason


# --- trust in ranking --------------------------------------------------------------------


@pytest.mark.parametrize("trusted_first", [True, False])
def test_low_trust_agent_ranks_below_an_equally_relevant_trusted_one(
    make_store: MakeStore, trusted_first: bool
) -> None:
    store = make_store(agent_trust={"spam-bot": 0.2})
    content = "the release checklist was approved by QA"
    order = [ALICE, ("acme", "spam-bot", "t1")]
    written = {ns[1]: store.remember(content, kind=SEM, namespace=ns) for ns in (order if trusted_first else order[::-1])}
    store.index_pending()
    hits = store.search("release checklist approved", k=5, namespace=("acme",))
    assert [h.record.id for h in hits] == [written["alice-bot"].id, written["spam-bot"].id]
    assert hits[0].signals == hits[1].signals  # equally relevant: the same signals found both
    untrusted = store.config
    store.config = untrusted.model_copy(update={"agent_trust": {}})
    plain = {h.record.id: h.score for h in store.search("release checklist approved", k=5, namespace=("acme",))}
    assert hits[1].score == pytest.approx(0.2 * plain[written["spam-bot"].id])
    assert hits[0].score == pytest.approx(plain[written["alice-bot"].id])  # unknown weight: 1.0


def test_agent_trust_is_validated() -> None:
    assert HiveConfig.load(environ={}, memory={"agent_trust": {"a": 0.3}}).memory.agent_trust == {"a": 0.3}
    with pytest.raises(HiveConfigError):
        HiveConfig.load(environ={}, memory={"agent_trust": {"a": 1.5}})
    with pytest.raises(HiveConfigError):
        HiveConfig.load(environ={}, memory={"conflict_scope": "world"})
