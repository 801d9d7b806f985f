"""Every Embedder passes the same conformance suite (the real MiniLM once per session)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hive_middleware.ports import Embedder
from hive_middleware.testing.conformance import EMBEDDER_CHECKS
from hive_middleware.testing.memory import HashingEmbedder

_MINILM: list[Embedder] = []


def _minilm() -> Embedder:
    # One loaded model for the whole session: loading costs seconds.
    if not _MINILM:
        from hive_middleware.adapters.embedders import MiniLMEmbedder

        _MINILM.append(MiniLMEmbedder())
    return _MINILM[0]


FACTORIES: dict[str, Callable[[], Embedder]] = {"hashing": lambda: HashingEmbedder(128), "minilm": _minilm}


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
@pytest.mark.parametrize("check", EMBEDDER_CHECKS, ids=lambda c: c.__name__)
def test_embedder_conformance(check: Callable[[Callable[[], Embedder]], None], adapter: str) -> None:
    check(FACTORIES[adapter])
