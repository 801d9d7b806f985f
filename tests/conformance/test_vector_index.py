"""Every VectorIndex adapter passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hive_middleware.adapters.chroma import ChromaVectorIndex

from hive_middleware.ports import VectorIndex
from hive_middleware.testing.conformance import VECTOR_INDEX_CHECKS
from hive_middleware.testing.memory import InMemoryVectorIndex


@pytest.fixture(params=["memory", "chroma"])
def make_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], VectorIndex]]:
    count = [0]

    def make() -> VectorIndex:
        count[0] += 1
        if request.param == "memory":
            return InMemoryVectorIndex()
        return ChromaVectorIndex.from_path(tmp_path / f"chroma{count[0]}", embedder_name="hashing-8")

    yield make


@pytest.mark.parametrize("check", VECTOR_INDEX_CHECKS, ids=lambda c: c.__name__)
def test_vector_index_conformance(
    check: Callable[[Callable[[], VectorIndex]], None], make_index: Callable[[], VectorIndex]
) -> None:
    check(make_index)
