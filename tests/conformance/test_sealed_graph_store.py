"""A SealedGraphStore over each graph back-end (in-memory, SQLite, PostgreSQL) passes every conformance suite.

The suites read back what they wrote (contents, metadata, reasons, outbox texts)
and rank keyword hits, so passing them shows that sealing changes nothing a
caller can observe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.memory.sealed_graph import SealedGraphStore
from hive_middleware.memory.sealing import Sealer
from hive_middleware.testing.conformance import GRAPH_STORE_SUITES
from hive_middleware.testing.memory import InMemoryGraphStore

SUITE_CHECKS = [
    pytest.param(check, id=f"{capability}-{check.__name__}")
    for capability, _protocol, checks in GRAPH_STORE_SUITES
    for check in checks
]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SealedGraphStore]]:
    """Builds fresh, empty sealed stores over one back-end (one key per test) and closes them."""
    sealer = Sealer(os.urandom(32), source="TEST_KEY")
    opened: list[SealedGraphStore] = []

    def make() -> SealedGraphStore:
        if request.param == "memory":
            inner: Any = InMemoryGraphStore()
        elif request.param == "sqlite":
            from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

            inner = SQLiteGraphStore(tmp_path / f"db{len(opened)}")
        else:
            from hive_middleware.adapters.postgres_graph import PostgresGraphStore

            if opened:
                raise AssertionError("a check builds one PostgreSQL store per test (one fresh database)")
            inner = PostgresGraphStore.from_url(request.getfixturevalue("postgres_url"))
        store = SealedGraphStore(inner, sealer)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.mark.parametrize("check", SUITE_CHECKS)
def test_sealed_graph_store_conformance(
    check: Callable[[Callable[[], Any]], None], make_store: Callable[[], SealedGraphStore]
) -> None:
    check(make_store)
