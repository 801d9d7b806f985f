"""Injectable time: the guard layer never calls ``time`` or ``asyncio.sleep`` directly.

Every policy (limiter, breaker, retry) takes a :class:`Clock` so tests can drive
time by hand (see :class:`hive_middleware.testing.manual_clock.ManualClock`) and
never wait on the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Time source and sleeper shared by the sync and async drivers.

    ``now`` is monotonic seconds (only differences matter); ``wall`` is Unix time
    for event timestamps people read; ``sleep``/``asleep`` block the thread or
    suspend the task for the given seconds (``<= 0`` returns at once).
    """

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> float:
        """Unix time in seconds (for timestamps in events)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time``, ``time.sleep``, ``asyncio.sleep``."""

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def wall(self) -> float:
        """Unix time in seconds."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` (yields once even for 0)."""
        await asyncio.sleep(max(seconds, 0.0))


SYSTEM_CLOCK = SystemClock()
