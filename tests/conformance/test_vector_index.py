"""Every VectorIndex adapter passes the same conformance suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hive_middleware.adapters.chroma import ChromaVectorIndex

from hive_middleware.ports import VectorIndex
from hive_middleware.testing.conformance import VECTOR_INDEX_CHECKS
from hive_middleware.testing.memory import InMemoryVectorIndex


@pytest.fixture(params=["memory", "chroma", "chroma-server"])
def make_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], VectorIndex]]:
    count = [0]
    made: list[ChromaVectorIndex] = []
    # The session's Chroma server, emptied before each test (started only for this parameter).
    server_url: str | None = request.getfixturevalue("chroma_url") if request.param == "chroma-server" else None

    def make() -> VectorIndex:
        count[0] += 1
        if request.param == "memory":
            return InMemoryVectorIndex()
        if server_url is not None:
            index = ChromaVectorIndex.from_url(server_url, embedder_name="hashing-8")
        else:
            index = ChromaVectorIndex.from_path(tmp_path / f"chroma{count[0]}", embedder_name="hashing-8")
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()


@pytest.mark.parametrize("check", VECTOR_INDEX_CHECKS, ids=lambda c: c.__name__)
def test_vector_index_conformance(
    check: Callable[[Callable[[], VectorIndex]], None], make_index: Callable[[], VectorIndex]
) -> None:
    check(make_index)
