"""Memory-engine fixtures: a MemoryStore on a real SQLite file with the hashing embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    """A store with a real SQLite graph, in-memory vectors and the hashing embedder."""
    graph = SQLiteGraphStore(tmp_path / "hive")
    s = MemoryStore(
        graph, InMemoryVectorIndex(), HashingEmbedder(128), namespace=("acme", "agent-1"), on_close=graph.close
    )
    yield s
    s.close()
