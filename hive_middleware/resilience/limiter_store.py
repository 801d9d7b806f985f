"""The port behind :class:`~hive_middleware.resilience.limiter.RateLimiter`, and its in-process adapter.

A store owns bucket levels and applies :mod:`~hive_middleware.resilience.bucket`
arithmetic atomically. The in-process adapter guards a dict with one lock; a
shared adapter (Redis, later) runs the same arithmetic server-side in one script
so many processes share one budget.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from hive_middleware.resilience.bucket import (
    BucketSpec,
    BucketState,
    ReserveOutcome,
    adjust_level,
    plan_reservation,
)

__all__ = ["BucketKey", "BucketTake", "InMemoryLimiterStore", "LimiterStore"]

#: ``(tenant, model, dimension)``, dimension being ``"requests"`` or ``"tokens"``.
BucketKey = tuple[str, str, str]
#: One bucket touched by a reservation: its key, its spec, and the units to take.
BucketTake = tuple[BucketKey, BucketSpec, float]


class LimiterStore(ABC):
    """Where token-bucket levels live.

    Contract:
        * :meth:`reserve` is atomic over all the buckets it names: either every
          bucket gives its units or none changes. A bucket seen for the first time
          starts full. It never sleeps; the caller waits ``outcome.wait``.
        * :meth:`adjust` adds ``delta`` units (refund > 0, extra charge < 0) to one
          bucket, never above its capacity.
        * ``now`` is the caller's clock. A store shared between processes should
          use one time source for all of them (e.g. the server's clock) instead.

    The async twins default to the sync methods, which is right for stores that
    never block (the in-process one); a network store overrides them.
    """

    @abstractmethod
    def reserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Take units from all buckets in ``takes`` within ``max_wait`` seconds, or from none."""

    @abstractmethod
    def adjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Refund (``delta > 0``) or charge (``delta < 0``) one bucket."""

    async def areserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Async :meth:`reserve`."""
        return self.reserve(takes, now, max_wait)

    async def aadjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Async :meth:`adjust`."""
        self.adjust(key, spec, delta, now)


class InMemoryLimiterStore(LimiterStore):
    """Buckets in a dict under one lock; safe for threads and asyncio in one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[BucketKey, BucketState] = {}

    def _state(self, key: BucketKey, spec: BucketSpec, now: float) -> BucketState:
        state = self._buckets.get(key)
        if state is None:
            state = self._buckets[key] = BucketState(level=spec.capacity, updated=now)
        return state

    def reserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Take units from all buckets in ``takes`` within ``max_wait`` seconds, or from none."""
        with self._lock:
            states = [self._state(key, spec, now) for key, spec, _ in takes]
            return plan_reservation(states, [t[1] for t in takes], [t[2] for t in takes], now, max_wait)

    def adjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Refund (``delta > 0``) or charge (``delta < 0``) one bucket."""
        with self._lock:
            adjust_level(self._state(key, spec, now), spec, delta, now)

    def level(self, key: BucketKey) -> float | None:
        """Current stored level of a bucket (not refilled), ``None`` if never used."""
        with self._lock:
            state = self._buckets.get(key)
            return None if state is None else state.level
