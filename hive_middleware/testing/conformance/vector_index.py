"""Conformance checks for :class:`~hive_middleware.ports.VectorIndex`."""

from __future__ import annotations

import math
from collections.abc import Callable

from hive_middleware.ports import VectorIndex

__all__ = ["VECTOR_INDEX_CHECKS"]

VectorIndexFactory = Callable[[], VectorIndex]


def _unit(*xs: float) -> list[float]:
    vec = [*xs, *([0.0] * (8 - len(xs)))]
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec]


def check_query_orders_by_similarity(make: VectorIndexFactory) -> None:
    """Hits come best first with similarity in [-1, 1]; at most ``k``."""
    index = make()
    index.upsert("t", ["x", "xy", "y"], [_unit(1, 0), _unit(1, 1), _unit(0, 1)])
    hits = index.query("t", _unit(1, 0.1), 2)
    assert [h[0] for h in hits] == ["x", "xy"]
    assert hits[0][1] >= hits[1][1]
    assert all(-1.0001 <= s <= 1.0001 for _, s in hits)
    assert abs(hits[0][1] - 1.0) < 0.01
    assert len(index.query("t", _unit(1, 0), 10)) == 3


def check_upsert_replaces(make: VectorIndexFactory) -> None:
    """Upserting an id again replaces its vector, never duplicates it."""
    index = make()
    index.upsert("t", ["a", "b"], [_unit(1, 0), _unit(0, 1)])
    index.upsert("t", ["a"], [_unit(0, 1)])
    hits = index.query("t", _unit(0, 1), 5)
    assert sorted(h[0] for h in hits) == ["a", "b"]
    assert all(s > 0.99 for _, s in hits)


def check_tenants_are_isolated(make: VectorIndexFactory) -> None:
    """A query sees only its tenant's ids; an unknown tenant gives ``[]``."""
    index = make()
    index.upsert("acme", ["a1"], [_unit(1, 0)])
    index.upsert("globex", ["g1"], [_unit(1, 0)])
    assert [h[0] for h in index.query("acme", _unit(1, 0), 10)] == ["a1"]
    assert [h[0] for h in index.query("globex", _unit(1, 0), 10)] == ["g1"]
    assert index.query("nobody", _unit(1, 0), 10) == []


def check_delete_tenant(make: VectorIndexFactory) -> None:
    """``delete_tenant`` removes every vector of that tenant only; deleting twice is fine."""
    index = make()
    index.upsert("acme", ["a1", "a2"], [_unit(1, 0), _unit(0, 1)])
    index.upsert("globex", ["g1"], [_unit(1, 0)])
    index.delete_tenant("acme")
    index.delete_tenant("acme")
    assert index.query("acme", _unit(1, 0), 10) == []
    assert [h[0] for h in index.query("globex", _unit(1, 0), 10)] == ["g1"]
    index.upsert("acme", ["a3"], [_unit(1, 0)])
    assert [h[0] for h in index.query("acme", _unit(1, 0), 10)] == ["a3"]


VECTOR_INDEX_CHECKS: list[Callable[[VectorIndexFactory], None]] = [
    check_query_orders_by_similarity,
    check_upsert_replaces,
    check_tenants_are_isolated,
    check_delete_tenant,
]
