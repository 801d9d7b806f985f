"""Token-bucket arithmetic: pure functions of (state, spec, now), no locks, no I/O.

A bucket holds up to ``capacity`` units and refills at ``refill_per_s``. Taking
``cost`` units is a *reservation*: the level may go negative, and the caller
waits until the refill has paid the debt back. Because the wait is computed from
the bucket rather than by polling, concurrent callers get distinct, evenly
spaced slots and the granted rate equals the configured rate however late
their sleeps wake up. Shared by the in-process store and any future shared
store (a Redis Lua script would run the same arithmetic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hive_middleware.errors import HiveConfigError

__all__ = ["BucketSpec", "BucketState", "ReserveOutcome", "adjust_level", "plan_reservation"]


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """Shape of one bucket.

    Args:
        capacity: Most units the bucket holds (the burst); must be >= 1.
        refill_per_s: Units added per second; must be > 0.

    Raises:
        HiveConfigError: a non-positive or non-finite rate, or a capacity below one unit.
    """

    capacity: float
    refill_per_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.refill_per_s) and self.refill_per_s > 0):
            raise HiveConfigError(
                f"bucket refill rate must be a positive number, got {self.refill_per_s!r}; "
                "set a positive requests/tokens budget or leave the limit unset",
                key="refill_per_s",
            )
        if not (math.isfinite(self.capacity) and self.capacity >= 1):
            raise HiveConfigError(
                f"bucket capacity must hold at least one unit, got {self.capacity!r}; "
                "raise the budget or the burst window so one request fits",
                key="capacity",
            )


@dataclass(slots=True)
class BucketState:
    """Mutable level of one bucket at time ``updated`` (a fresh bucket starts full)."""

    level: float
    updated: float


@dataclass(frozen=True, slots=True)
class ReserveOutcome:
    """Result of :func:`plan_reservation`.

    ``granted``: the units were taken and the caller must wait ``wait`` seconds;
    otherwise nothing was taken and ``wait`` is the retry-after.
    """

    granted: bool
    wait: float


def _refill(state: BucketState, spec: BucketSpec, now: float) -> None:
    if now > state.updated:
        state.level = min(spec.capacity, state.level + (now - state.updated) * spec.refill_per_s)
        state.updated = now


def plan_reservation(
    states: Sequence[BucketState],
    specs: Sequence[BucketSpec],
    costs: Sequence[float],
    now: float,
    max_wait: float,
) -> ReserveOutcome:
    """Take ``costs[i]`` from every bucket at once, or from none.

    All buckets must allow the call within ``max_wait`` seconds; the wait is the
    slowest bucket's. Mutates ``states`` only when granted (after refilling).

    Args:
        states: Current bucket states (mutated).
        specs: Their specs, same order.
        costs: Units to take from each, same order; each must be <= its capacity.
        now: Current monotonic time.
        max_wait: Longest acceptable wait in seconds.

    Returns:
        Whether it was granted and the wait (or the retry-after when refused).
    """
    wait = 0.0
    for state, spec, cost in zip(states, specs, costs, strict=True):
        _refill(state, spec, now)
        deficit = cost - state.level
        if deficit > 0:
            wait = max(wait, deficit / spec.refill_per_s)
    if wait > max_wait:
        return ReserveOutcome(granted=False, wait=wait)
    for state, cost in zip(states, costs, strict=True):
        state.level -= cost
    return ReserveOutcome(granted=True, wait=wait)


def adjust_level(state: BucketState, spec: BucketSpec, delta: float, now: float) -> None:
    """Give back (``delta > 0``) or charge extra (``delta < 0``) units after the fact."""
    _refill(state, spec, now)
    state.level = min(spec.capacity, state.level + delta)
