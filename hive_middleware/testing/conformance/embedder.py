"""Conformance checks for :class:`~hive_middleware.ports.Embedder`."""

from __future__ import annotations

import math
from collections.abc import Callable

from hive_middleware.ports import Embedder

__all__ = ["EMBEDDER_CHECKS"]

EmbedderFactory = Callable[[], Embedder]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def check_shape_and_order(make: EmbedderFactory) -> None:
    """One vector per text, in order, each ``dim`` long; ``[]`` gives ``[]``."""
    emb = make()
    assert emb.embed([]) == []
    texts = ["the cat sat on the mat", "quarterly revenue grew", "the cat sat on the mat"]
    vectors = emb.embed(texts)
    assert len(vectors) == 3
    assert all(len(v) == emb.dim for v in vectors)
    single = emb.embed([texts[1]])[0]
    assert max(abs(a - b) for a, b in zip(single, vectors[1], strict=True)) < 1e-4


def check_deterministic_and_normalised(make: EmbedderFactory) -> None:
    """The same text gives the same unit vector, across calls and instances."""
    first, second = make(), make()
    a = first.embed(["Alice moved to Berlin in May"])[0]
    b = second.embed(["Alice moved to Berlin in May"])[0]
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4
    assert abs(math.sqrt(_dot(a, a)) - 1.0) < 1e-3


def check_similar_texts_are_closer(make: EmbedderFactory) -> None:
    """Texts that share their words are closer than unrelated texts."""
    emb = make()
    base, near, far = emb.embed(
        ["Alice lives in Paris with her cat", "Alice lives in Paris", "quarterly revenue grew by ten percent"]
    )
    assert _dot(base, near) > _dot(base, far)


EMBEDDER_CHECKS: list[Callable[[EmbedderFactory], None]] = [
    check_shape_and_order,
    check_deterministic_and_normalised,
    check_similar_texts_are_closer,
]
