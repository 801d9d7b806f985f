"""Rate limits and circuit breakers shared through a real Redis by many processes.

The conformance suites (tests/conformance/test_limiter_store.py and
test_breaker_store.py) check the arithmetic with a hand-driven clock; these tests
check what only a real server shows: several processes sharing one budget and
one half-open probe on Redis time, and a server that goes away mid-run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hive_middleware.adapters.redis_breaker import RedisBreakerStore
from hive_middleware.adapters.redis_limiter import RedisLimiterStore

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveCircuitOpen, HiveModelError, HiveRateLimited, HiveStorageError
from hive_middleware.resilience.breaker import BreakerEvent, CircuitBreaker
from hive_middleware.resilience.breaker_state import BreakerState
from hive_middleware.resilience.bucket import BucketSpec
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.limiter_store import BucketTake
from hive_middleware.resilience.shared_checks import measure_half_open_probes, measure_limiter_rate_error
from hive_middleware.stack import HiveStack
from hive_middleware.testing.servers import RedisServer

MODEL = "gpt-4o-mini"


def _config(redis_url: str, **guard: Any) -> HiveConfig:
    return HiveConfig.load(
        config_file=None,
        environ={},
        shared={"redis": redis_url, "retry_s": 0.2},
        guard={"max_attempts": 1, **guard},
    )


class ServerError(Exception):
    """A provider failure the guard counts against the model."""

    status_code = 503


def _fail(model: str) -> str:
    raise ServerError("provider overloaded")


# ------------------------------------------------------------------ many processes


def test_six_processes_share_one_requests_per_minute_budget(redis_url: str) -> None:
    result = measure_limiter_rate_error(
        redis_url, processes=6, seconds=3.0, requests_per_minute=6000.0, burst_s=1.0
    )
    assert result["expected_allowance"] == pytest.approx(400.0)
    # Each process alone would allow the whole budget: ~6x, a rate error near 5.
    assert abs(result["limiter_rate_error"]) <= 0.02, result
    assert all(count > 0 for count in result["admitted_per_process"]), result


@pytest.mark.parametrize(("verdict", "after"), [("success", "closed"), ("failure", "open")])
def test_half_open_admits_one_probe_across_processes(redis_url: str, verdict: str, after: str) -> None:
    result = measure_half_open_probes(
        redis_url,
        processes=6,
        attempts_per_process=40,
        cooldown_s=0.3,
        probe_verdict=verdict,  # type: ignore[arg-type]
    )
    assert result["half_open_probes"] == 1, result
    assert result["refused"] == 6 * 40 - 1
    assert result["states_after"] == [after] * 6, result


# ------------------------------------------------------------------ shared clock and state


def test_server_time_ignores_each_process_clock(redis_url: str) -> None:
    # Two stores on their own connections stand for two processes whose monotonic
    # clocks disagree by hours; the bucket runs on Redis TIME, so they share it exactly.
    a = RedisLimiterStore.from_url(redis_url, prefix="clock")
    b = RedisLimiterStore.from_url(redis_url, prefix="clock")
    take: BucketTake = (("t", "m", "requests"), BucketSpec(capacity=2, refill_per_s=0.001), 1.0)
    assert a.reserve([take], 5.0, 0.0).granted
    assert b.reserve([take], 90_000.0, 0.0).granted
    refused = a.reserve([take], 1e9, 0.0)
    assert not refused.granted and refused.wait == pytest.approx(1000.0, rel=0.01)
    a.close()
    b.close()


def test_breaker_state_and_events_are_shared(redis_url: str) -> None:
    seen_a: list[BreakerEvent] = []
    seen_b: list[BreakerEvent] = []

    def breaker(events: list[BreakerEvent]) -> CircuitBreaker:
        return CircuitBreaker(
            "model@host",
            failure_threshold=2,
            cooldown_s=0.2,
            store=RedisBreakerStore.from_url(redis_url, prefix="events"),
            listeners=[events.append],
        )

    a, b = breaker(seen_a), breaker(seen_b)
    a.record_failure(a.before_call())
    b.record_failure(b.before_call())  # the second failure anywhere opens it everywhere
    assert [(e.old, e.new) for e in seen_b] == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert seen_a == []  # a process hears of the changes it makes
    with pytest.raises(HiveCircuitOpen):
        a.before_call()
    time.sleep(0.25)
    assert a.state is BreakerState.HALF_OPEN
    probe = a.before_call()
    assert probe.probe
    with pytest.raises(HiveCircuitOpen, match="probe in flight"):
        b.before_call()
    a.record_success(probe)
    assert b.state is BreakerState.CLOSED
    assert [e.reason for e in seen_a] == ["cooldown elapsed", "probe succeeded"]


def test_a_dead_server_raises_hive_storage_errors_only(redis_server: RedisServer, redis_url: str) -> None:
    limiter = RedisLimiterStore.from_url(redis_url)
    breakers = RedisBreakerStore.from_url(redis_url)
    take: BucketTake = (("t", "m", "requests"), BucketSpec(capacity=2, refill_per_s=1), 1.0)
    limiter.reserve([take], 0.0, 0.0)
    redis_server.stop()
    try:
        with pytest.raises(HiveStorageError) as info:
            limiter.reserve([take], 0.0, 0.0)
        assert info.value.unavailable is True  # type: ignore[attr-defined]
        cb = CircuitBreaker("m", store=breakers)
        with pytest.raises(HiveStorageError):
            cb.before_call()
        with pytest.raises(HiveStorageError):
            asyncio.run(limiter.areserve([take], 0.0, 0.0))
    finally:
        redis_server.start()


# ------------------------------------------------------------------ wiring and outages


def test_shared_redis_in_the_config_shares_limits_between_guards(redis_url: str) -> None:
    config = _config(redis_url, requests_per_minute=2, max_wait_s=0)
    first, second = Guard.from_config(config), Guard.from_config(config)
    assert first.execute(lambda m: "one", model=MODEL) == "one"
    assert second.execute(lambda m: "two", model=MODEL) == "two"
    with pytest.raises(HiveRateLimited):
        first.execute(lambda m: "three", model=MODEL)  # the budget of 2 is shared
    first.close()
    second.close()


def test_redis_stopped_mid_run_falls_back_then_shares_again(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(redis_url, failure_threshold=2, failure_rate_threshold=None, cooldown_s=30)
    stack = HiveStack(config)
    guard = stack.guard
    other = Guard.from_config(config)  # another process on the same Redis
    assert guard.execute(lambda m: "before", model=MODEL) == "before"
    redis_server.stop()
    try:
        # Calls keep working on in-process limits and breakers; no redis exception surfaces.
        for i in range(5):
            assert guard.execute(lambda m, i=i: f"during {i}", model=MODEL) == f"during {i}"
        for _ in range(2):
            with pytest.raises(HiveModelError):
                guard.execute(_fail, model=MODEL)
        with pytest.raises(HiveCircuitOpen):  # the local breaker protects while Redis is away
            guard.execute(lambda m: "refused", model=MODEL)

        async def async_call() -> str:
            result: str = await guard.aexecute(_async_ok, model="other-model")
            return result

        assert asyncio.run(async_call()) == "ok"
        assert stack.stats.get("guard.shared_unavailable") == 1
        assert len([r for r in caplog.records if "in-process until" in r.getMessage()]) == 1
    finally:
        redis_server.start()
    time.sleep(0.3)  # past shared.retry_s
    # Back on Redis: the breaker there is closed (the outage's failures stayed local).
    assert guard.execute(lambda m: "after", model=MODEL) == "after"
    assert stack.stats.get("guard.shared_restored") == 1
    for _ in range(2):
        with pytest.raises(HiveModelError):
            guard.execute(_fail, model=MODEL)
    time.sleep(0.3)
    # Shared again: the other guard sees the circuit this one opened.
    with pytest.raises(HiveCircuitOpen):
        other.execute(lambda m: "refused", model=MODEL)
    stack.close()
    other.close()


async def _async_ok(model: str) -> str:
    return "ok"


def test_async_guard_uses_the_shared_stores(redis_url: str) -> None:
    config = _config(redis_url, requests_per_minute=3, max_wait_s=0, failure_threshold=1)
    guard, other = Guard.from_config(config), Guard.from_config(config)

    async def scenario() -> None:
        assert await guard.aexecute(_async_ok, model=MODEL) == "ok"

        async def fail(model: str) -> str:
            raise ServerError("down")

        with pytest.raises(HiveModelError):
            await other.aexecute(fail, model=MODEL)
        with pytest.raises(HiveCircuitOpen):
            await guard.aexecute(_async_ok, model=MODEL)

    asyncio.run(scenario())
    asyncio.run(_limits_hold(guard))
    guard.close()
    other.close()


async def _limits_hold(guard: Guard) -> None:
    # A second event loop gets its own async connection. Two of the 3 shared requests
    # were spent (the call the open circuit refused gave its slot back): one is left.
    await guard.limiter.aacquire(guard.tenant, MODEL)
    with pytest.raises(HiveRateLimited):
        await guard.limiter.aacquire(guard.tenant, MODEL)
