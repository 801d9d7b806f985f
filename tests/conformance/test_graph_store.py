"""Every GraphStore adapter passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.ports import GraphStore
from hive_middleware.testing.conformance import GRAPH_STORE_CHECKS
from hive_middleware.testing.memory import InMemoryGraphStore


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], GraphStore]:
    opened: list[GraphStore] = []

    def make() -> GraphStore:
        store: GraphStore
        if request.param == "memory":
            store = InMemoryGraphStore()
        else:
            store = SQLiteGraphStore(tmp_path / f"db{len(opened)}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.mark.parametrize("check", GRAPH_STORE_CHECKS, ids=lambda c: c.__name__)
def test_graph_store_conformance(check: Callable[[Callable[[], GraphStore]], None], make_store: Callable[[], GraphStore]) -> None:
    check(make_store)
