"""Hybrid logical clock (HLC): timestamps that never run backwards.

A timestamp is one 64-bit integer: the physical wall-clock milliseconds shifted
left by :data:`LOGICAL_BITS`, plus a logical counter in the low bits. Comparing
two timestamps as integers orders them causally:

* within a process, :meth:`HybridClock.tick` is strictly increasing across threads;
* across processes, the graph store persists the last timestamp it handed out and
  passes it as ``floor`` inside its write transaction, so a process whose wall
  clock is behind (or jumped back) still stamps after everything already stored.

The physical part stays close to real time, so a timestamp converts to and from
an aware ``datetime`` (:func:`hlc_to_datetime`, :func:`datetime_to_hlc`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hive_middleware.errors import HiveValidationError

__all__ = ["LOGICAL_BITS", "HybridClock", "datetime_to_hlc", "hlc_physical_ms", "hlc_to_datetime"]

LOGICAL_BITS = 16
_LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class HybridClock:
    """A thread-safe hybrid logical clock.

    Args:
        wall_ms: Source of physical time in milliseconds since the epoch
            (injected in tests to simulate skewed or backwards clocks).
    """

    def __init__(self, wall_ms: Callable[[], int] = _wall_ms) -> None:
        self._wall_ms = wall_ms
        self._last = 0
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        """The last timestamp this clock handed out (0 before the first tick)."""
        return self._last

    def now_ms(self) -> int:
        """The physical clock's current milliseconds (time-based rules read time here)."""
        return self._wall_ms()

    def tick(self, floor: int = 0) -> int:
        """Return a new timestamp greater than every earlier one and than ``floor``.

        Args:
            floor: A timestamp observed elsewhere (the store's persisted maximum,
                a remote event); the result is strictly greater.

        Returns:
            ``max(wall << LOGICAL_BITS, last + 1, floor + 1)``.
        """
        physical = self._wall_ms() << LOGICAL_BITS
        with self._lock:
            stamp = max(physical, self._last + 1, floor + 1)
            self._last = stamp
            return stamp

    def observe(self, stamp: int) -> None:
        """Move the clock forward to at least ``stamp`` (receive event)."""
        with self._lock:
            if stamp > self._last:
                self._last = stamp


def hlc_physical_ms(stamp: int) -> int:
    """The wall-clock milliseconds part of an HLC timestamp."""
    return stamp >> LOGICAL_BITS


def hlc_to_datetime(stamp: int) -> datetime:
    """The aware UTC datetime of an HLC timestamp's physical part."""
    return datetime.fromtimestamp(hlc_physical_ms(stamp) / 1000.0, tz=UTC)


def datetime_to_hlc(moment: datetime) -> int:
    """The largest HLC timestamp within the millisecond of ``moment``.

    Used for "as of" queries: everything stamped during or before that
    millisecond counts as known at ``moment``.

    Raises:
        HiveValidationError: ``moment`` is naive.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise HiveValidationError(
            f"datetime {moment.isoformat()} is naive; pass an aware datetime (e.g. tzinfo=UTC)",
            field="as_of",
        )
    ms = int(moment.timestamp() * 1000)
    return (ms << LOGICAL_BITS) | _LOGICAL_MASK
