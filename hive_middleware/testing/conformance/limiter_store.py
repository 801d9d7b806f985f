"""Conformance checks for :class:`~hive_middleware.resilience.limiter_store.LimiterStore`.

Each check takes a factory returning a fresh, empty store; every adapter
(in-process now, a shared Redis store later) must pass all of them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from hive_middleware.resilience.bucket import BucketSpec
from hive_middleware.resilience.limiter_store import BucketKey, LimiterStore

__all__ = ["LIMITER_STORE_CHECKS"]

LimiterStoreFactory = Callable[[], LimiterStore]
SPEC = BucketSpec(capacity=3, refill_per_s=2)
KEY: BucketKey = ("tenant", "model", "requests")


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6


def check_fresh_bucket_starts_full_then_queues(make: LimiterStoreFactory) -> None:
    """A new bucket grants its capacity at once, then slots 1/rate apart."""
    store = make()
    waits = [store.reserve([(KEY, SPEC, 1)], 100.0, 10.0).wait for _ in range(5)]
    assert all(_close(w, e) for w, e in zip(waits, [0, 0, 0, 0.5, 1.0], strict=True)), waits


def check_refill_over_time_is_capped(make: LimiterStoreFactory) -> None:
    """Levels refill with time up to capacity, never beyond."""
    store = make()
    assert store.reserve([(KEY, SPEC, 3)], 0.0, 0.0).granted
    assert not store.reserve([(KEY, SPEC, 1)], 0.1, 0.0).granted
    assert store.reserve([(KEY, SPEC, 1)], 0.5, 0.0).granted
    assert store.reserve([(KEY, SPEC, 3)], 1000.0, 0.0).granted
    assert not store.reserve([(KEY, SPEC, 1)], 1000.0, 0.0).granted


def check_refusal_takes_nothing_and_reports_retry_after(make: LimiterStoreFactory) -> None:
    """A reservation beyond ``max_wait`` is refused with its wait and leaves the level as it was."""
    store = make()
    store.reserve([(KEY, SPEC, 3)], 0.0, 0.0)
    refused = store.reserve([(KEY, SPEC, 2)], 0.0, 0.5)
    assert not refused.granted and _close(refused.wait, 1.0)
    assert _close(store.reserve([(KEY, SPEC, 2)], 0.0, 1.0).wait, 1.0)


def check_all_or_nothing_across_buckets(make: LimiterStoreFactory) -> None:
    """When one bucket cannot give in time, no bucket gives."""
    store = make()
    tokens: BucketKey = ("tenant", "model", "tokens")
    token_spec = BucketSpec(capacity=100, refill_per_s=10)
    store.reserve([(tokens, token_spec, 100)], 0.0, 0.0)
    assert not store.reserve([(KEY, SPEC, 1), (tokens, token_spec, 50)], 0.0, 1.0).granted
    assert _close(store.reserve([(KEY, SPEC, 3)], 0.0, 0.0).wait, 0.0)  # requests untouched


def check_keys_are_isolated(make: LimiterStoreFactory) -> None:
    """Tenants, models and dimensions never share a bucket."""
    store = make()
    for key in [
        KEY,
        ("other", "model", "requests"),
        ("tenant", "other", "requests"),
        ("tenant", "model", "tokens"),
    ]:
        assert store.reserve([(key, SPEC, 3)], 0.0, 0.0).granted


def check_adjust_refunds_and_charges(make: LimiterStoreFactory) -> None:
    """``adjust`` gives units back up to capacity and charges debt that delays later callers."""
    store = make()
    store.reserve([(KEY, SPEC, 3)], 0.0, 0.0)
    store.adjust(KEY, SPEC, 2, 0.0)
    assert store.reserve([(KEY, SPEC, 2)], 0.0, 0.0).granted
    store.adjust(KEY, SPEC, 100, 0.0)
    assert store.reserve([(KEY, SPEC, 3)], 0.0, 0.0).granted
    store.adjust(KEY, SPEC, -2, 0.0)
    assert _close(store.reserve([(KEY, SPEC, 1)], 0.0, 10.0).wait, 1.5)


def check_async_twins_share_state(make: LimiterStoreFactory) -> None:
    """``areserve``/``aadjust`` act on the same buckets as the sync methods."""
    store = make()

    async def scenario() -> list[float]:
        first = await store.areserve([(KEY, SPEC, 3)], 0.0, 0.0)
        await store.aadjust(KEY, SPEC, 1, 0.0)
        second = store.reserve([(KEY, SPEC, 1)], 0.0, 0.0)
        third = await store.areserve([(KEY, SPEC, 1)], 0.0, 10.0)
        return [first.wait, second.wait, third.wait]

    assert all(_close(a, b) for a, b in zip(asyncio.run(scenario()), [0.0, 0.0, 0.5], strict=True))


def check_concurrent_reservations_never_double_spend(make: LimiterStoreFactory) -> None:
    """Racing threads get distinct slots: no two callers share one unit."""
    store = make()
    barrier = threading.Barrier(16)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for _ in range(5):
            outcome = store.reserve([(KEY, SPEC, 1)], 0.0, 1e9)
            with lock:
                waits.append(outcome.wait)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [0.0] * 3 + [0.5 * i for i in range(1, 78)]
    assert all(_close(a, b) for a, b in zip(sorted(waits), expected, strict=True))


LIMITER_STORE_CHECKS: list[Callable[[LimiterStoreFactory], None]] = [
    check_fresh_bucket_starts_full_then_queues,
    check_refill_over_time_is_capped,
    check_refusal_takes_nothing_and_reports_retry_after,
    check_all_or_nothing_across_buckets,
    check_keys_are_isolated,
    check_adjust_refunds_and_charges,
    check_async_twins_share_state,
    check_concurrent_reservations_never_double_spend,
]
