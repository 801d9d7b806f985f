"""A hand-driven :class:`~hive_middleware.resilience.clock.Clock` for tests.

Sleeping advances virtual time instead of waiting, so a test of a 30 s cooldown
or a Retry-After of 5 s runs in microseconds. ``advance`` moves time forward
explicitly; ``sleeps`` records every requested sleep so tests can assert the
backoff schedule.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["ManualClock"]


class ManualClock:
    """Virtual time that only moves when told to (or when someone sleeps).

    Args:
        start: Initial monotonic time.
        wall_start: Unix time that corresponds to ``start``.
        advance_on_sleep: If true (default) ``sleep(s)`` moves time forward by ``s``;
            if false time stays frozen and sleeps are only recorded.
    """

    def __init__(
        self, start: float = 1_000.0, *, wall_start: float = 1_700_000_000.0, advance_on_sleep: bool = True
    ) -> None:
        self._lock = threading.Lock()
        self._t = start
        self._wall_offset = wall_start - start
        self.advance_on_sleep = advance_on_sleep
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Current virtual monotonic time."""
        with self._lock:
            return self._t

    def wall(self) -> float:
        """Virtual Unix time."""
        with self._lock:
            return self._t + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and (by default) advance time instead of waiting."""
        with self._lock:
            self.sleeps.append(seconds)
            if self.advance_on_sleep and seconds > 0:
                self._t += seconds

    async def asleep(self, seconds: float) -> None:
        """Like :meth:`sleep`, then yield to the event loop once."""
        self.sleep(seconds)
        await asyncio.sleep(0)
