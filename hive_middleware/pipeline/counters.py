"""Counters of what a stack did and what it had to drop or alter, readable at any time."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["Counters"]


class Counters:
    """Thread-safe named counters (``stack.stats``).

    Names are dotted: ``memory.remembered``, ``hook_error.recall``,
    ``memory.link_unresolved``, ``litellm.unexpected_response`` ... Every place
    that drops or alters data because of an error counts it here and logs it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._counts[name] += n

    def get(self, name: str) -> int:
        """The value of counter ``name`` (0 if never counted)."""
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """Every counter, sorted by name."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    def __repr__(self) -> str:
        return f"Counters({self.snapshot()!r})"
