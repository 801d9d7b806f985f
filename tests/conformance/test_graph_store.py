"""Every GraphStore adapter passes the conformance suites of the capabilities it implements.

Each back-end (in-memory, SQLite, PostgreSQL) runs every check of every
capability suite; a suite whose protocol the store does not implement is skipped,
so a partial back-end shows which capabilities it lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.ports import RecordStore
from hive_middleware.testing.conformance import GRAPH_STORE_SUITES
from hive_middleware.testing.memory import InMemoryGraphStore

BACKENDS = ["memory", "sqlite", "postgres"]
SUITE_CHECKS = [
    pytest.param(protocol, check, id=f"{capability}-{check.__name__}")
    for capability, protocol, checks in GRAPH_STORE_SUITES
    for check in checks
]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], RecordStore]]:
    """Builds fresh, empty stores of one back-end and closes them after the test."""
    opened: list[RecordStore] = []

    def make() -> RecordStore:
        store: RecordStore
        if request.param == "memory":
            store = InMemoryGraphStore()
        elif request.param == "sqlite":
            from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

            store = SQLiteGraphStore(tmp_path / f"db{len(opened)}")
        else:
            from hive_middleware.adapters.postgres_graph import PostgresGraphStore

            if opened:
                raise AssertionError("a check builds one PostgreSQL store per test (one fresh database)")
            store = PostgresGraphStore.from_url(request.getfixturevalue("postgres_url"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.mark.parametrize(("protocol", "check"), SUITE_CHECKS)
def test_graph_store_conformance(
    protocol: type[Any], check: Callable[[Callable[[], Any]], None], make_store: Callable[[], RecordStore]
) -> None:
    probe = make_store()
    if not isinstance(probe, protocol):
        pytest.skip(f"{type(probe).__name__} does not implement {protocol.__name__}")
    unused = [probe]

    def fresh() -> Any:
        # The probe is the check's first store; any further one is built anew.
        return unused.pop() if unused else make_store()

    check(fresh)
