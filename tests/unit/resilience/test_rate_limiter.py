"""RateLimiter: keyed buckets, bounded waits, typed refusals, usage correction, concurrency."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hive_middleware.errors import HiveConfigError, HiveRateLimited, HiveValidationError
from hive_middleware.resilience.limiter import RateLimit, RateLimiter
from hive_middleware.resilience.limiter_store import InMemoryLimiterStore
from hive_middleware.testing.manual_clock import ManualClock


def test_acquire_waits_for_its_slot_on_the_injected_clock(clock: ManualClock) -> None:
    limiter = RateLimiter(RateLimit(requests=60, window_s=60, burst_s=1), clock=clock, max_wait_s=5)
    first = limiter.acquire("t", "m")
    second = limiter.acquire("t", "m")
    assert first.wait == 0 and second.wait == pytest.approx(1.0)
    assert clock.sleeps == [pytest.approx(1.0)]


def test_refusal_is_typed_with_retry_after_and_takes_nothing(clock: ManualClock) -> None:
    store = InMemoryLimiterStore()
    limiter = RateLimiter(RateLimit(requests=1, window_s=10), clock=clock, store=store, max_wait_s=1)
    limiter.acquire("acme", "gpt-4o")
    with pytest.raises(HiveRateLimited) as info:
        limiter.acquire("acme", "gpt-4o")
    err = info.value
    assert err.retry_after == pytest.approx(10.0)
    assert (err.tenant, err.model, err.source) == ("acme", "gpt-4o", "local")
    assert store.level(("acme", "gpt-4o", "requests")) == pytest.approx(0.0)


def test_buckets_are_keyed_by_tenant_and_model_with_per_model_overrides(clock: ManualClock) -> None:
    limiter = RateLimiter(
        RateLimit(requests=1, window_s=60),
        per_model={"big": RateLimit(requests=3, window_s=60)},
        clock=clock,
        max_wait_s=0,
    )
    limiter.acquire("a", "small")
    limiter.acquire("b", "small")  # another tenant has its own bucket
    limiter.acquire("a", "other")  # another model too
    with pytest.raises(HiveRateLimited):
        limiter.acquire("a", "small")
    for _ in range(3):
        limiter.acquire("a", "big")
    with pytest.raises(HiveRateLimited):
        limiter.acquire("a", "big")


def test_unlimited_model_is_never_refused(clock: ManualClock) -> None:
    limiter = RateLimiter(None, per_model={"m": RateLimit(requests=1)}, clock=clock, max_wait_s=0)
    for _ in range(100):
        assert limiter.acquire("t", "free").wait == 0


def test_token_estimate_is_corrected_by_reported_usage(clock: ManualClock) -> None:
    store = InMemoryLimiterStore()
    limiter = RateLimiter(RateLimit(tokens=1000, window_s=60), clock=clock, store=store, max_wait_s=0)
    key = ("t", "m", "tokens")
    over = limiter.acquire("t", "m", tokens=400)
    limiter.settle(over, actual_tokens=100)  # used less: 300 back
    assert store.level(key) == pytest.approx(900)
    under = limiter.acquire("t", "m", tokens=100)
    limiter.settle(under, actual_tokens=700)  # used more: 600 charged
    assert store.level(key) == pytest.approx(200)
    unknown = limiter.acquire("t", "m", tokens=50)
    limiter.settle(unknown, actual_tokens=None)  # no usage: the estimate stands
    assert store.level(key) == pytest.approx(150)
    with pytest.raises(HiveRateLimited):
        limiter.acquire("t", "m", tokens=500)


def test_token_debt_delays_the_next_call(clock: ManualClock) -> None:
    limiter = RateLimiter(RateLimit(tokens=600, window_s=60), clock=clock, max_wait_s=100)
    reservation = limiter.acquire("t", "m", tokens=600)
    limiter.settle(reservation, actual_tokens=900)  # 300 tokens of debt at 10 tokens/s
    assert limiter.acquire("t", "m", tokens=0).wait == pytest.approx(30.0)


def test_cancel_gives_the_slot_back(clock: ManualClock) -> None:
    limiter = RateLimiter(RateLimit(requests=1, tokens=100, window_s=60), clock=clock, max_wait_s=0)
    limiter.cancel(limiter.acquire("t", "m", tokens=100))
    limiter.acquire("t", "m", tokens=100)


def test_request_larger_than_the_token_bucket_is_a_usage_error(clock: ManualClock) -> None:
    limiter = RateLimiter(RateLimit(tokens=100, window_s=60), clock=clock)
    with pytest.raises(HiveValidationError, match="holds at most 100"):
        limiter.acquire("t", "m", tokens=101)
    with pytest.raises(HiveValidationError):
        limiter.acquire("", "m")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests": -1},
        {"tokens": 0},
        {"requests": 10, "window_s": 0},
        {"requests": 1, "window_s": 60, "burst_s": 1},
        {"requests": float("nan")},
        {"tokens": 10, "burst_s": -3},
    ],
)
def test_bad_limits_raise_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(HiveConfigError):
        RateLimit(**kwargs)


def test_negative_max_wait_is_a_config_error() -> None:
    with pytest.raises(HiveConfigError):
        RateLimiter(RateLimit(requests=1), max_wait_s=-1)


def test_threads_race_for_a_bucket_without_double_spending() -> None:
    clock = ManualClock(advance_on_sleep=False)  # frozen time: only the reservations decide
    limiter = RateLimiter(RateLimit(requests=10, window_s=10, burst_s=5), clock=clock, max_wait_s=4.5)
    barrier = threading.Barrier(50)
    waits: list[float] = []
    refused: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            wait = limiter.acquire("t", "m").wait
            with lock:
                waits.append(wait)
        except HiveRateLimited as exc:
            with lock:
                refused.append(exc.retry_after)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 5 in the burst, then one slot per second up to the 4.5 s bound: 4 more.
    assert sorted(waits) == pytest.approx([0, 0, 0, 0, 0, 1, 2, 3, 4])
    assert len(refused) == 41 and min(refused) == pytest.approx(5.0)


@pytest.mark.anyio
async def test_async_tasks_get_distinct_slots_and_cancellation_refunds() -> None:
    clock = ManualClock(advance_on_sleep=False)
    store = InMemoryLimiterStore()
    limiter = RateLimiter(
        RateLimit(requests=2, window_s=2, burst_s=1), clock=clock, store=store, max_wait_s=100
    )
    results = await asyncio.gather(*(limiter.aacquire("t", "m") for _ in range(6)))
    assert sorted(r.wait for r in results) == pytest.approx([0, 1, 2, 3, 4, 5])
    before = store.level(("t", "m", "requests"))

    gate = asyncio.Event()

    class BlockingClock(ManualClock):
        async def asleep(self, seconds: float) -> None:
            await gate.wait()

    blocking = RateLimiter(
        limiter.limit, clock=BlockingClock(advance_on_sleep=False), store=store, max_wait_s=100
    )
    task = asyncio.create_task(blocking.aacquire("t", "m"))
    await asyncio.sleep(0)
    assert store.level(("t", "m", "requests")) == pytest.approx(before - 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.level(("t", "m", "requests")) == pytest.approx(before)
