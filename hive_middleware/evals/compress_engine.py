"""The compression engine as a method of ``hive eval compress``, with its originals kept for grading.

:class:`EngineMethod` calls ``hive_middleware.compression.compress`` with its
own :class:`RecordingArtifactStore`, so the evaluation can read back, by
handle, the originals a compressed list points to (``anchor_retention_expandable``).
That call and the store's ``put``/``get`` are the only contact between the
grading code and the engine: the rulers are computed by
:mod:`hive_middleware.evals.identifiers` and :mod:`hive_middleware.evals.anchors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hive_middleware.errors import HiveNotFoundError
from hive_middleware.types import Message

__all__ = ["EngineMethod", "RecordingArtifactStore", "RunScopedMethod", "engine_available"]


class RecordingArtifactStore:
    """An unbounded dict of originals by handle (the engine's ``ArtifactStore`` port)."""

    def __init__(self) -> None:
        self._items: dict[str, str] = {}

    def put(self, handle: str, original: str, metadata: Mapping[str, Any]) -> None:
        """Store ``original`` under ``handle`` (the first original stored under a handle wins)."""
        self._items.setdefault(handle, original)

    def get(self, handle: str) -> str:
        """The original under ``handle``.

        Raises:
            HiveNotFoundError: nothing was stored under it.
        """
        try:
            return self._items[handle]
        except KeyError:
            raise HiveNotFoundError(f"no original stored under {handle!r}", key=handle) from None

    def find(self, handle: str) -> str | None:
        """The original under ``handle``, or None."""
        return self._items.get(handle)

    def clear(self) -> None:
        """Forget every original."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@runtime_checkable
class RunScopedMethod(Protocol):
    """A compression method that keeps originals per run and can give them back by handle."""

    def __call__(self, messages: list[Message]) -> list[Message]:
        """Compress one step's message list."""
        ...

    def start_run(self) -> None:
        """Forget the previous run's originals."""
        ...

    def original(self, handle: str) -> str | None:
        """The original text stored under ``handle`` in this run, or None."""
        ...


def engine_available() -> bool:
    """Whether ``hive_middleware.compression`` provides ``compress``."""
    try:
        from hive_middleware import compression
    except ImportError:
        return False
    return getattr(compression, "compress", None) is not None


@dataclass
class EngineMethod:
    """``compress(messages, budget=..., model=..., config=...)`` as an evaluation method.

    Attributes:
        budget: Token budget passed to ``compress`` (None: no budget).
        model: Model whose tokenizer the engine counts with.
        settings: ``CompressionConfig`` fields to override (e.g.
            ``{"drop_after_turns": 6}``); empty for the defaults.
    """

    budget: int | None = None
    model: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    store: RecordingArtifactStore = field(default_factory=RecordingArtifactStore)
    _config: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settings:
            from hive_middleware.config import CompressionConfig

            self._config = CompressionConfig(**dict(self.settings))

    def __call__(self, messages: list[Message]) -> list[Message]:
        """Compress one step's list with the engine; originals go to :attr:`store`."""
        from hive_middleware.compression import compress

        result = compress(
            messages, budget=self.budget, model=self.model, config=self._config, artifacts=self.store
        )
        return list(result.messages)

    def start_run(self) -> None:
        """Forget the originals of the previous run."""
        self.store.clear()

    def original(self, handle: str) -> str | None:
        """The original the engine stored under ``handle`` during this run, or None."""
        return self.store.find(handle)
