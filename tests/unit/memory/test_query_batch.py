"""Concurrent query embeddings share batches; each caller gets its own vector or the batch's error."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from hive_middleware.errors import HiveUsageError
from hive_middleware.memory.query_batch import QueryBatcher
from hive_middleware.testing.memory import HashingEmbedder


class SlowEmbedder:
    """A hashing embedder whose calls take ``delay`` seconds and are recorded."""

    def __init__(self, delay: float = 0.02) -> None:
        self.inner = HashingEmbedder(16)
        self.delay = delay
        self.calls: list[list[str]] = []
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.calls.append(list(texts))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        return self.inner.embed(texts)


def test_a_lone_caller_embeds_its_text_alone() -> None:
    slow = SlowEmbedder(0.0)
    batcher = QueryBatcher(slow.embed)
    assert batcher.embed("alpha") == slow.inner.embed(["alpha"])[0]
    assert batcher.embed("beta") == slow.inner.embed(["beta"])[0]
    assert slow.calls == [["alpha"], ["beta"]]


def test_concurrent_callers_share_batches_and_each_gets_its_own_vector() -> None:
    slow = SlowEmbedder(0.02)
    batcher = QueryBatcher(slow.embed, max_batch=8)
    texts = [f"query {i}" for i in range(64)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        vectors = list(pool.map(batcher.embed, texts))
    assert vectors == slow.inner.embed(texts)
    assert slow.most_active == 1  # one pass at a time
    assert max(len(call) for call in slow.calls) <= 8
    assert len(slow.calls) < 32  # batched: far fewer calls than texts
    assert sorted(t for call in slow.calls for t in call) == sorted(texts)  # each text embedded once
    assert batcher.texts == 64 and batcher.batches == len(slow.calls)


def test_a_failing_batch_fails_its_riders_and_the_next_batch_still_runs() -> None:
    failing = threading.Event()
    failing.set()
    started = threading.Event()
    release = threading.Event()
    inner = HashingEmbedder(8)

    def embed(texts: Sequence[str]) -> list[list[float]]:
        if "hold" in texts:
            started.set()
            release.wait(5)
            return inner.embed(texts)
        if failing.is_set():
            failing.clear()
            raise RuntimeError("model fell over")
        return inner.embed(texts)

    batcher = QueryBatcher(embed)
    with ThreadPoolExecutor(max_workers=4) as pool:
        held = pool.submit(batcher.embed, "hold")
        assert started.wait(5)
        riders = [pool.submit(batcher.embed, f"q{i}") for i in range(3)]
        time.sleep(0.05)  # the riders queue behind the held batch
        release.set()
        assert held.result(5) == inner.embed(["hold"])[0]
        for rider in riders:
            with pytest.raises(RuntimeError, match="model fell over"):
                rider.result(5)
    assert batcher.embed("after") == inner.embed(["after"])[0]


def test_an_embedder_that_loses_vectors_is_an_error_not_a_wrong_answer() -> None:
    batcher = QueryBatcher(lambda texts: [])
    with pytest.raises(HiveUsageError, match="0 vectors for 1 texts"):
        batcher.embed("x")


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(HiveUsageError, match="max_batch"):
        QueryBatcher(HashingEmbedder(4).embed, max_batch=0)
