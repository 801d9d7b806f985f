"""Failover of the shared limiter and breaker stores to in-process state, driven by a hand clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from hive_middleware.config import HiveConfig, SharedConfig
from hive_middleware.errors import HiveCircuitOpen, HiveConfigError, HiveStorageError
from hive_middleware.resilience.breaker import CircuitBreaker
from hive_middleware.resilience.breaker_state import AdmitOutcome, BreakerSettings, BreakerState, Permit
from hive_middleware.resilience.breaker_store import BreakerSnapshot, InMemoryBreakerStore
from hive_middleware.resilience.bucket import BucketSpec, ReserveOutcome
from hive_middleware.resilience.failover import FailoverBreakerStore, FailoverLimiterStore, FailoverSwitch
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.limiter import RateLimit, RateLimiter
from hive_middleware.resilience.limiter_store import BucketKey, BucketTake, InMemoryLimiterStore
from hive_middleware.resilience.shared import open_shared_guard_stores
from hive_middleware.testing.manual_clock import ManualClock


class FlakyLimiterStore(InMemoryLimiterStore):
    """An in-process store standing in for a shared one that can be taken away."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise HiveStorageError("server gone", backend="test", unavailable=True)

    def reserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        self._check()
        return super().reserve(takes, now, max_wait)

    def adjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        self._check()
        super().adjust(key, spec, delta, now)


class FlakyBreakerStore(InMemoryBreakerStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise HiveStorageError("server gone", backend="test", unavailable=True)

    def admit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        self._check()
        outcome = super().admit(name, settings, now)
        return AdmitOutcome(
            outcome.ticket,
            outcome.generation,
            outcome.probe,
            outcome.retry_after,
            outcome.why,
            outcome.transitions,
            origin="shared",
        )

    def record(self, name: str, settings: BreakerSettings, permit: Permit, verdict, now):  # type: ignore[no-untyped-def]
        self._check()
        return super().record(name, settings, permit, verdict, now)

    def snapshot(self, name: str, settings: BreakerSettings, now: float) -> BreakerSnapshot:
        self._check()
        return super().snapshot(name, settings, now)


def _switch(clock: ManualClock, events: list[str]) -> FailoverSwitch:
    return FailoverSwitch("test server", retry_s=5.0, now=clock.now, on_change=events.append)


def test_limiter_falls_back_logs_once_and_returns_after_retry(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    shared = FlakyLimiterStore()
    switch = _switch(clock, events)
    limiter = RateLimiter(
        RateLimit(requests=2, window_s=60.0), store=FailoverLimiterStore(shared, InMemoryLimiterStore(), switch),
        clock=clock, max_wait_s=0.0,
    )
    limiter.reserve("t", "m")
    limiter.reserve("t", "m")  # the shared budget is spent
    shared.down = True
    caplog.set_level(logging.WARNING, logger="hive_middleware.resilience.failover")
    # The local store has its own full bucket: calls go on, no exception.
    limiter.reserve("t", "m")
    limiter.reserve("t", "m")
    calls_when_down = shared.calls
    clock.advance(1.0)
    with pytest.raises(Exception, match="rate limit"):
        limiter.reserve("t", "m")  # the local limit holds too
    assert shared.calls == calls_when_down, "no call waits on the dead server before retry_s"
    assert events == ["unavailable"] and not switch.shared_up
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1
    clock.advance(5.0)
    shared.down = False
    with pytest.raises(Exception, match="rate limit"):
        limiter.reserve("t", "m")  # back on the shared bucket, which is still spent
    assert shared.calls == calls_when_down + 1
    assert events == ["unavailable", "restored"] and switch.shared_up and switch.outages == 1


def test_one_caller_retries_the_server_per_interval(clock: ManualClock) -> None:
    shared = FlakyLimiterStore()
    shared.down = True
    store = FailoverLimiterStore(shared, InMemoryLimiterStore(), _switch(clock, []))
    take: BucketTake = (("t", "m", "requests"), BucketSpec(capacity=1000, refill_per_s=1), 1.0)
    for _ in range(50):
        store.reserve([take], clock.now(), 0.0)
    assert shared.calls == 1
    clock.advance(5.0)
    for _ in range(50):
        store.reserve([take], clock.now(), 0.0)
    assert shared.calls == 2


def test_async_limiter_falls_back(clock: ManualClock) -> None:
    events: list[str] = []
    shared = FlakyLimiterStore()
    shared.down = True
    store = FailoverLimiterStore(shared, InMemoryLimiterStore(), _switch(clock, events))
    take: BucketTake = (("t", "m", "requests"), BucketSpec(capacity=1, refill_per_s=1), 1.0)

    async def scenario() -> ReserveOutcome:
        outcome = await store.areserve([take], 0.0, 0.0)
        await store.aadjust(take[0], take[1], 1.0, 0.0)
        return outcome

    assert asyncio.run(scenario()).granted and events == ["unavailable"]


def test_breaker_verdicts_go_to_the_store_that_admitted(clock: ManualClock) -> None:
    events: list[str] = []
    shared = FlakyBreakerStore()
    local = InMemoryBreakerStore()
    store = FailoverBreakerStore(shared, local, _switch(clock, events))
    breaker = CircuitBreaker("m", failure_threshold=1, cooldown_s=10.0, clock=clock, store=store)
    shared_permit = breaker.before_call()
    assert shared_permit.origin == "shared"
    shared.down = True
    local_permit = breaker.before_call()  # falls back
    assert local_permit.origin == "local"
    breaker.record_failure(local_permit)
    # The local circuit opened; the shared one never heard of it.
    with pytest.raises(HiveCircuitOpen):
        breaker.before_call()
    # A shared verdict while the server is down is dropped, never raised.
    breaker.record_failure(shared_permit)
    shared.down = False
    clock.advance(5.0)
    assert breaker.state is BreakerState.CLOSED  # read from the shared store again
    assert events == ["unavailable", "restored"]
    assert local.snapshot("m", breaker.settings, clock.now()).state is BreakerState.OPEN


def test_switch_hook_failure_is_logged_not_raised(clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: str) -> None:
        raise RuntimeError("hook bug")

    switch = FailoverSwitch("s", retry_s=1.0, now=clock.now, on_change=broken)
    switch.failed(HiveStorageError("down", unavailable=True))
    assert "hook bug" in caplog.text


def test_no_shared_url_means_in_process_stores() -> None:
    assert open_shared_guard_stores(SharedConfig()) is None
    guard = Guard.from_config(HiveConfig.load(environ={}, config_file=None))
    assert guard.shared is None
    assert isinstance(guard.limiter.store, InMemoryLimiterStore)
    assert isinstance(guard.breaker_store, InMemoryBreakerStore)


def test_a_url_that_is_not_redis_is_refused_with_the_fix() -> None:
    with pytest.raises(HiveConfigError, match=r"redis://host:port/db") as info:
        open_shared_guard_stores(SharedConfig(redis="http://user:secret@host:1"))
    assert "secret" not in str(info.value)
    assert info.value.key == "shared.redis"  # type: ignore[attr-defined]


def test_measurements_need_a_redis_url() -> None:
    from hive_middleware.resilience.shared_checks import measure_half_open_probes, measure_limiter_rate_error

    for measure in (measure_limiter_rate_error, measure_half_open_probes):
        with pytest.raises(HiveConfigError, match="needs a Redis URL"):
            measure(None)
