"""Conformance checks for :class:`~hive_middleware.ports.EdgeGraph` (over a record store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hive_middleware.errors import HiveTenantError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.writes import AddEdges, PutRecord
from hive_middleware.ports import EdgeGraph, RecordStore
from hive_middleware.testing.conformance.graph_records import make_record
from hive_middleware.types import EdgeKind

__all__ = ["EDGE_GRAPH_CHECKS", "LinkedRecordStore"]


class LinkedRecordStore(RecordStore, EdgeGraph, Protocol):
    """A record store with edges: what these checks drive."""


LinkedFactory = Callable[[], LinkedRecordStore]


def check_edges_and_traverse(make: LinkedFactory) -> None:
    """Links become edges; ``traverse`` honours depth, direction and kinds; no cross-tenant links."""
    store, clock = make(), HybridClock()
    a = store.commit([PutRecord(make_record("a"))], clock).records[0]
    b = store.commit([PutRecord(make_record("b"), links=((EdgeKind.CAUSED_BY, a.id),))], clock).records[0]
    c = store.commit([PutRecord(make_record("c"), links=((EdgeKind.RELATED_TO, b.id),))], clock).records[0]
    assert store.traverse("acme", [c.id], depth=1, direction="out") == {b.id: 1}
    assert store.traverse("acme", [c.id], depth=2, direction="out") == {b.id: 1, a.id: 2}
    assert store.traverse("acme", [a.id], depth=2, direction="in") == {b.id: 1, c.id: 2}
    assert store.traverse("acme", [c.id], depth=3, kinds=[EdgeKind.RELATED_TO], direction="out") == {b.id: 1}
    assert store.traverse("acme", [b.id], depth=1) == {a.id: 1, c.id: 1}
    assert store.traverse("acme", [b.id], depth=0) == {} and store.traverse("acme", [], depth=2) == {}
    assert store.traverse("globex", [c.id], depth=3) == {}
    store.commit([AddEdges("acme", ((a.id, EdgeKind.CONTRADICTS, c.id),), {"why": "test"})], clock)
    contradicts = [e for e in store.edges("acme", c.id) if e.kind is EdgeKind.CONTRADICTS]
    assert [(e.src, e.dst, dict(e.metadata)) for e in contradicts] == [(a.id, c.id, {"why": "test"})]
    # A cycle (a -> c -> b -> a) still gives each id its smallest hop count.
    assert store.traverse("acme", [a.id], depth=5, direction="out") == {c.id: 1, b.id: 2}
    foreign = store.commit([PutRecord(make_record("g", ("globex",)))], clock).records[0]
    for op in (
        PutRecord(make_record("x"), links=((EdgeKind.CAUSED_BY, foreign.id),)),
        AddEdges("acme", ((a.id, EdgeKind.RELATED_TO, foreign.id),)),
    ):
        try:
            store.commit([op], clock)
        except HiveTenantError:
            continue
        raise AssertionError("a link to another tenant's record must raise HiveTenantError")
    assert store.edges("globex", a.id) == [] and store.edges("acme", foreign.id) == []


def check_supersede_links_edge(make: LinkedFactory) -> None:
    """A supersession adds ``new --supersedes--> old``."""
    store, clock = make(), HybridClock()
    ns = ("acme", "agent")
    old = store.commit([PutRecord(make_record("Paris", ns, key="city"))], clock).records[0]
    new = store.commit([PutRecord(make_record("Berlin", ns, key="city"))], clock).records[0]
    kinds = {(e.src, e.kind, e.dst) for e in store.edges("acme", new.id)}
    assert (new.id, EdgeKind.SUPERSEDES, old.id) in kinds
    assert store.traverse("acme", [new.id], kinds=[EdgeKind.SUPERSEDES], direction="out") == {old.id: 1}


def check_erase_tenant_takes_edges(make: LinkedFactory) -> None:
    """``erase_tenant`` deletes the tenant's edges, not another tenant's."""
    store, clock = make(), HybridClock()
    a = store.commit([PutRecord(make_record("a"))], clock).records[0]
    store.commit([PutRecord(make_record("b"), links=((EdgeKind.CAUSED_BY, a.id),))], clock)
    g = store.commit([PutRecord(make_record("g", ("globex",)))], clock).records[0]
    h = store.commit([PutRecord(make_record("h", ("globex",)), links=((EdgeKind.CAUSED_BY, g.id),))], clock)
    store.erase_tenant("acme")
    assert store.edges("acme", a.id) == [] and store.traverse("acme", [a.id], depth=2) == {}
    assert store.traverse("globex", [g.id], depth=1) == {h.records[0].id: 1}


EDGE_GRAPH_CHECKS: list[Callable[[LinkedFactory], None]] = [
    check_edges_and_traverse,
    check_supersede_links_edge,
    check_erase_tenant_takes_edges,
]
"""Checks for stores with :class:`~hive_middleware.ports.EdgeGraph`."""
