"""Tenant isolation with many agents sharing memory: identical keys, contents, agent and thread
names in two tenants, and no read, confirmation or contradiction ever crosses between them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveNotFoundError, HiveTenantError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.resolve import CONFIRMED_BY_KEY
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import MemoryKind

SEM = MemoryKind.SEMANTIC
TENANTS = ("acme", "globex")
FACT = "The staging database runs on port 5433"
DEPLOY = "deploy window is Friday 18:00"


def alice(tenant: str) -> tuple[str, str, str]:
    return (tenant, "alice-bot", "t1")


def bob(tenant: str) -> tuple[str, str, str]:
    return (tenant, "bob-bot", "t2")


@dataclass
class Written:
    """What one tenant's agents wrote."""

    fact: str
    deploy: str
    paris: str
    cause: str
    ids: set[str]


@pytest.fixture(params=["sqlite", "in-memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    graph: Any = SQLiteGraphStore(tmp_path / "hive") if request.param == "sqlite" else InMemoryGraphStore()
    s = MemoryStore(
        graph, InMemoryVectorIndex(), HashingEmbedder(128), namespace=alice("acme"),
        config=MemoryConfig(conflict_scope="tenant", agent_trust={"bob-bot": 0.5}),
        clock=HybridClock(lambda: 1_750_000_000_000), start_worker=False, on_close=graph.close,
    )
    yield s
    s.close()


def _write_same_things(store: MemoryStore) -> dict[str, Written]:
    """Both tenants' Alice write the same records with the same keys, in the same order."""
    out = {}
    for tenant in TENANTS:
        cause = store.remember("standup notes: database moved", key="standup", namespace=alice(tenant))
        fact = store.remember(FACT, kind=SEM, namespace=alice(tenant), confidence=0.5, caused_by=[cause.id])
        deploy = store.remember(DEPLOY, key="deploy.window", kind=SEM, namespace=alice(tenant), confidence=0.5)
        paris = store.remember("Alice lives in Paris", kind=SEM, namespace=alice(tenant))
        out[tenant] = Written(fact.id, deploy.id, paris.id, cause.id, {cause.id, fact.id, deploy.id, paris.id})
    store.index_pending()
    return out


def test_confirmations_and_contradictions_stay_in_their_tenant(store: MemoryStore) -> None:
    written = _write_same_things(store)
    acme, globex = written["acme"], written["globex"]

    # Bob of acme confirms acme's fact and key, and contradicts acme's Alice.
    confirmed = store.remember(FACT, kind=SEM, namespace=bob("acme"), confidence=1.0)
    assert confirmed.id == acme.fact and confirmed.confidence == pytest.approx(0.75)
    assert store.remember(DEPLOY, key="deploy.window", kind=SEM, namespace=bob("acme")).id == acme.deploy
    berlin = store.remember("Alice lives in Berlin", kind=SEM, namespace=bob("acme"))
    assert store.graph.get("acme", [acme.paris])[acme.paris].expired_at is not None

    # globex's identical records are untouched: same confidence, no confirmers, still current.
    same = store.graph.get("globex", [globex.fact, globex.deploy, globex.paris])
    order = (globex.fact, globex.deploy, globex.paris)
    assert [(same[i].confidence, same[i].expired_at, CONFIRMED_BY_KEY in same[i].metadata) for i in order] == [
        (0.5, None, False), (0.5, None, False), (1.0, None, False),
    ]
    assert store.graph.get("acme", [globex.fact]) == {}
    assert berlin.id not in {e.src for e in store.graph.edges("globex", globex.paris)}

    # Now globex's Bob confirms globex's fact: only globex's record rises, from its own 0.5.
    by_globex_bob = store.remember(FACT, kind=SEM, namespace=bob("globex"), confidence=1.0)
    assert by_globex_bob.id == globex.fact and by_globex_bob.confidence == pytest.approx(0.75)
    assert by_globex_bob.metadata[CONFIRMED_BY_KEY] == ["bob-bot"]
    assert store.graph.get("acme", [acme.fact])[acme.fact].confidence == pytest.approx(0.75)
    assert store.graph.get("acme", [acme.fact])[acme.fact].metadata[CONFIRMED_BY_KEY] == ["bob-bot"]


def test_every_read_stays_in_its_tenant(store: MemoryStore) -> None:
    written = _write_same_things(store)
    store.remember(FACT, kind=SEM, namespace=bob("acme"), confidence=1.0)
    store.remember("Alice lives in Berlin", kind=SEM, namespace=bob("acme"))
    store.index_pending()
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        mine, theirs = written[tenant], written[other]
        ns = alice(tenant)
        # search: tenant, agent and thread scopes; now and as of an earlier stamp.
        stamp = store.graph.get(tenant, [mine.fact])[mine.fact].recorded_at
        for scope in ((tenant,), ns[:2], ns):
            hits = store.search("staging database Alice deploy", k=50, namespace=scope)
            assert hits and all(h.record.tenant == tenant for h in hits)
            then = store.search("staging database", k=50, namespace=scope, as_of=stamp)
            ids = [h.record.id for h in then]
            assert mine.fact in ids and set(ids) <= {mine.fact, mine.cause}  # nothing written later
        # recall (now and as of), history: the same key names a different record per tenant.
        assert store.recall("deploy.window", namespace=ns).id == mine.deploy  # type: ignore[union-attr]
        assert store.recall("deploy.window", namespace=ns, as_of=stamp + 10**9).id == mine.deploy  # type: ignore[union-attr]
        assert [v.record.id for v in store.history("deploy.window", namespace=ns)] == [mine.deploy]
        assert [v.record.id for v in store.history("fact:alice:location", namespace=ns)] == [mine.paris]
        # why and traversal reach only this tenant's records.
        for rid in mine.ids:
            assert all(s.record.tenant == tenant for s in store.why(rid, namespace=ns))
            assert all(r.tenant == tenant for r in store.neighbours(rid, depth=4, namespace=ns))
        assert mine.cause in {s.record.id for s in store.why(mine.fact, namespace=ns)}
        # The other tenant's ids are unknown here, never a way in.
        for rid in theirs.ids:
            with pytest.raises(HiveNotFoundError):
                store.why(rid, namespace=ns)
            with pytest.raises(HiveNotFoundError):
                store.neighbours(rid, namespace=ns)
        with pytest.raises(HiveTenantError):
            store.remember("link across", namespace=ns, caused_by=[theirs.cause])
        assert store.graph.get(tenant, list(theirs.ids)) == {}

    # The contradiction happened in acme only: globex still believes Paris.
    globex_now = store.recall("fact:alice:location", namespace=alice("globex"))
    assert globex_now is not None and globex_now.content == "Alice lives in Paris"
    assert store.recall("fact:alice:location", namespace=alice("acme")) is None


def test_erasing_one_tenant_keeps_the_other_agents_memory(store: MemoryStore) -> None:
    written = _write_same_things(store)
    store.remember(FACT, kind=SEM, namespace=bob("globex"), confidence=1.0)
    store.erase_tenant("acme")
    assert store.search("staging database", namespace=("acme",)) == []
    hits = store.search("staging database", k=50, namespace=("globex",))
    assert hits[0].record.id == written["globex"].fact
    assert hits[0].record.confidence == pytest.approx(0.75)
    # Writing acme's fact again starts afresh: nothing of globex is confirmed by it.
    again = store.remember(FACT, kind=SEM, namespace=bob("acme"), confidence=0.4)
    assert again.tenant == "acme" and again.confidence == 0.4 and CONFIRMED_BY_KEY not in again.metadata
