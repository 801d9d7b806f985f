"""HLC: strictly increasing whatever the wall clock does, across threads; datetime round trips."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.errors import HiveValidationError
from hive_middleware.memory.clock import (
    LOGICAL_BITS,
    HybridClock,
    datetime_to_hlc,
    hlc_physical_ms,
    hlc_to_datetime,
)


@given(walls=st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=60),
       floors=st.lists(st.integers(min_value=0, max_value=2**56), min_size=1, max_size=60))
def test_tick_is_strictly_increasing_and_above_floor(walls: list[int], floors: list[int]) -> None:
    feed = iter(walls * 2)
    clock = HybridClock(wall_ms=lambda: next(feed, walls[-1]))
    last = 0
    for i in range(len(walls)):
        floor = floors[i % len(floors)]
        stamp = clock.tick(floor)
        assert stamp > last and stamp > floor
        assert hlc_physical_ms(stamp) >= walls[i]
        last = stamp


def test_backwards_wall_clock_never_reorders() -> None:
    times = iter([5_000, 1_000, 1_000, 9_000])
    clock = HybridClock(wall_ms=lambda: next(times))
    stamps = [clock.tick() for _ in range(4)]
    assert stamps == sorted(set(stamps))
    assert hlc_physical_ms(stamps[1]) == 5_000  # held at the highest physical time seen
    assert hlc_physical_ms(stamps[3]) == 9_000


def test_threads_get_unique_increasing_stamps() -> None:
    clock = HybridClock(wall_ms=lambda: 42)  # frozen wall clock: only the logical part moves
    results: list[list[int]] = [[] for _ in range(4)]

    def work(out: list[int]) -> None:
        for _ in range(2_000):
            out.append(clock.tick())

    threads = [threading.Thread(target=work, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [s for r in results for s in r]
    assert len(set(every)) == len(every)
    assert all(r == sorted(r) for r in results)


def test_observe_moves_forward_only() -> None:
    clock = HybridClock(wall_ms=lambda: 1)
    clock.observe(10**9)
    assert clock.tick() == 10**9 + 1
    clock.observe(5)
    assert clock.last == 10**9 + 1


def test_datetime_round_trip_and_naive_refused() -> None:
    moment = datetime(2024, 5, 8, 13, 56, 7, 123000, tzinfo=timezone(timedelta(hours=2)))
    stamp = datetime_to_hlc(moment)
    assert hlc_to_datetime(stamp) == moment.astimezone(UTC)
    # Everything stamped within that millisecond is at or before the as-of stamp.
    assert (hlc_physical_ms(stamp) << LOGICAL_BITS) <= stamp
    with pytest.raises(HiveValidationError, match="naive"):
        datetime_to_hlc(datetime(2024, 1, 1))
