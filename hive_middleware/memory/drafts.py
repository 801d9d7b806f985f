"""MemoryDraft: one memory to write, before the store validates and stamps it.

Its own module so that the store's helpers (fact extraction, bulk writers) can
build drafts without importing :mod:`hive_middleware.memory.store`; the store
re-exports it, so ``from hive_middleware.memory.store import MemoryDraft`` keeps
working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hive_middleware.types import MemoryKind

__all__ = ["MemoryDraft"]


@dataclass(frozen=True, slots=True)
class MemoryDraft:
    """One memory for :meth:`MemoryStore.remember_many` (same fields as ``remember``)."""

    content: str
    key: str | None = None
    kind: MemoryKind = MemoryKind.EPISODIC
    namespace: tuple[str, ...] | None = None
    valid_from: datetime | None = None
    caused_by: tuple[str, ...] = ()
    related_to: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] | None = None
    confidence: float = 1.0
