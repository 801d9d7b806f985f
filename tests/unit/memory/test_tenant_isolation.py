"""No search, recall or traversal in tenant A ever returns tenant B's data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveNotFoundError, HiveTenantError
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex

WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "shared", "secret", "plan", "budget"])


def _fill(store: MemoryStore) -> dict[str, set[str]]:
    owned: dict[str, set[str]] = {"acme": set(), "globex": set()}
    for tenant in owned:
        prev = None
        for i in range(6):
            rec = store.remember(
                f"shared secret plan {i} of {tenant}",
                namespace=(tenant, "agent"),
                key=f"k{i}",
                related_to=[prev] if prev else [],
            )
            owned[tenant].add(rec.id)
            prev = rec.id
    return owned


def test_reads_stay_inside_the_tenant(store: MemoryStore) -> None:
    owned = _fill(store)
    store.wait_indexed(10)
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        ns = (tenant, "agent")
        hits = store.search("shared secret plan", k=50, namespace=(tenant,))
        assert hits and {h.record.id for h in hits} <= owned[tenant]
        assert store.recall("k0", namespace=ns).id in owned[tenant]
        assert {r.id for r in store.neighbours("k2", depth=5, namespace=ns)} <= owned[tenant]
        # An id of the other tenant is unknown here, not a way in.
        foreign = next(iter(owned[other]))
        with pytest.raises(HiveNotFoundError):
            store.neighbours(foreign, namespace=ns)
        with pytest.raises(HiveTenantError):
            store.remember("sneaky link", namespace=ns, caused_by=[foreign])
        assert store.graph.get(tenant, [foreign]) == {}


def test_erase_one_tenant_keeps_the_other(store: MemoryStore) -> None:
    owned = _fill(store)
    store.wait_indexed(10)
    store.erase_tenant("acme")
    assert store.search("secret", namespace=("acme",)) == []
    assert store.recall("k0", namespace=("acme", "agent")) is None
    assert {h.record.id for h in store.search("secret", k=50, namespace=("globex",))} == owned["globex"]


@settings(max_examples=25, deadline=None)
@given(docs=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.lists(WORDS, min_size=1, max_size=5)), min_size=1, max_size=20),
       query=st.lists(WORDS, min_size=1, max_size=4))
def test_random_contents_never_leak(docs: list[tuple[str, list[str]]], query: list[str]) -> None:
    store = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(32), start_worker=False)
    owner: dict[str, str] = {}
    for tenant, words in docs:
        owner[store.remember(" ".join(words), namespace=(tenant,)).id] = tenant
    store.index_pending()
    for tenant in ("a", "b"):
        for hit in store.search(" ".join(query), k=50, namespace=(tenant,)):
            assert owner[hit.record.id] == tenant
