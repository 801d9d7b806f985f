"""CachingEmbedder: each distinct text is embedded once; vectors are those of the inner embedder."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveUsageError
from hive_middleware.memory.backends import open_backends
from hive_middleware.memory.embedding_cache import CachingEmbedder
from hive_middleware.ports import Embedder
from hive_middleware.testing.conformance import EMBEDDER_CHECKS
from hive_middleware.testing.memory import HashingEmbedder


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return super().embed(texts)


@pytest.mark.parametrize("check", EMBEDDER_CHECKS, ids=lambda c: c.__name__)
def test_conformance(check: Callable[[Callable[[], Embedder]], None]) -> None:
    check(lambda: CachingEmbedder(HashingEmbedder(128)))


def test_each_distinct_text_reaches_the_inner_embedder_once() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner)
    first = cached.embed(["alpha beta", "gamma", "alpha beta"])
    assert inner.texts == ["alpha beta", "gamma"]
    second = cached.embed(["gamma", "delta", "alpha beta"])
    assert inner.texts == ["alpha beta", "gamma", "delta"]
    assert second[0] == first[1] and second[2] == first[0]
    assert (cached.hits, cached.misses) == (3, 3)
    assert cached.name == inner.name and cached.dim == inner.dim


def test_vectors_equal_the_inner_embedders_up_to_float32() -> None:
    inner = HashingEmbedder(64)
    cached = CachingEmbedder(HashingEmbedder(64))
    for got, want in zip(cached.embed(["one two", "three"]), inner.embed(["one two", "three"]), strict=True):
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-6


def test_returned_vectors_are_fresh_lists() -> None:
    cached = CachingEmbedder(HashingEmbedder(32))
    vector = cached.embed(["mutable"])[0]
    vector[0] = 99.0
    assert cached.embed(["mutable"])[0][0] != 99.0


def test_least_recently_used_texts_are_evicted() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_entries=2)
    cached.embed(["a", "b"])
    cached.embed(["a"])  # "a" is now the most recent
    cached.embed(["c"])  # evicts "b"
    inner.texts.clear()
    cached.embed(["a", "b", "c"])
    assert inner.texts == ["b"]


def test_concurrent_callers_get_their_own_vectors() -> None:
    reference = HashingEmbedder(64)
    cached = CachingEmbedder(HashingEmbedder(64), max_entries=16)
    texts = [f"text number {i}" for i in range(40)]
    wrong: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(20):
            chosen = [texts[(offset + round_ + j) % len(texts)] for j in range(5)]
            for text, got in zip(chosen, cached.embed(chosen), strict=True):
                want = reference.embed([text])[0]
                if max(abs(a - b) for a, b in zip(got, want, strict=True)) > 1e-6:
                    wrong.append(text)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(HiveUsageError, match="max_entries"):
        CachingEmbedder(HashingEmbedder(8), max_entries=0)


def test_open_backends_caches_the_configured_embedder_only(tmp_path: Path) -> None:
    config = HiveConfig.load(memory={"embedder": "hashing", "vector_index": "memory"}).memory
    opened = open_backends(tmp_path / "a", config)
    try:
        assert isinstance(opened.embedder, CachingEmbedder)
        assert isinstance(opened.embedder.inner, HashingEmbedder)
    finally:
        opened.close()
    given = HashingEmbedder(16)
    opened = open_backends(tmp_path / "b", config, embedder=given)
    try:
        assert opened.embedder is given
    finally:
        opened.close()
