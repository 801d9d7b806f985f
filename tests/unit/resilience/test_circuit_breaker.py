"""CircuitBreaker: the state machine, exactly one half-open probe under threads and asyncio, events."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hive_middleware.errors import HiveCircuitOpen, HiveConfigError
from hive_middleware.resilience.breaker import BreakerEvent, BreakerState, CircuitBreaker, Permit
from hive_middleware.testing.manual_clock import ManualClock


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.before_call())


def open_breaker(clock: ManualClock, **kwargs: object) -> CircuitBreaker:
    breaker = CircuitBreaker("m", failure_threshold=3, cooldown_s=10, clock=clock, **kwargs)  # type: ignore[arg-type]
    fail(breaker, 3)
    assert breaker.state is BreakerState.OPEN
    return breaker


def test_consecutive_failures_open_and_a_success_resets_the_count(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", failure_threshold=3, failure_rate_threshold=None, clock=clock)
    fail(breaker, 2)
    breaker.record_success(breaker.before_call())
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 2
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(HiveCircuitOpen) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(30.0)


def test_failure_rate_over_the_window_opens(clock: ManualClock) -> None:
    breaker = CircuitBreaker(
        "m", failure_threshold=100, failure_rate_threshold=0.5, window_s=10, min_calls=6, clock=clock
    )
    for failed in [True, False, True, False, True]:
        permit = breaker.before_call()
        (breaker.record_failure if failed else breaker.record_success)(permit)
        clock.advance(0.5)
    assert breaker.state is BreakerState.CLOSED  # 3/5, below min_calls
    breaker.record_failure(breaker.before_call())
    assert breaker.state is BreakerState.OPEN  # 4/6


def test_old_failures_slide_out_of_the_window(clock: ManualClock) -> None:
    breaker = CircuitBreaker(
        "m", failure_threshold=100, failure_rate_threshold=0.5, window_s=10, min_calls=4, clock=clock
    )
    fail(breaker, 1)
    breaker.record_success(breaker.before_call())
    fail(breaker, 1)
    clock.advance(11)  # those three calls leave the window
    for _ in range(3):
        breaker.record_success(breaker.before_call())
    fail(breaker, 1)
    assert breaker.state is BreakerState.CLOSED  # 1/4 in the window, not 3/7


def test_cooldown_then_probe_success_closes(clock: ManualClock) -> None:
    events: list[BreakerEvent] = []
    breaker = open_breaker(clock, listeners=[events.append])
    clock.advance(9.9)
    with pytest.raises(HiveCircuitOpen) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    probe = breaker.before_call()
    assert probe.probe
    with pytest.raises(HiveCircuitOpen):
        breaker.before_call()
    breaker.record_success(probe)
    assert breaker.state is BreakerState.CLOSED
    assert not breaker.before_call().probe
    assert [(e.old, e.new) for e in events] == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert [e.at for e in events] == [1000.0, 1010.0, 1010.0]
    assert events[0].reason == "3 consecutive failures" and events[0].wall == pytest.approx(1_700_000_000.0)


def test_probe_failure_reopens_for_a_full_cooldown(clock: ManualClock) -> None:
    breaker = open_breaker(clock)
    clock.advance(10)
    breaker.record_failure(breaker.before_call())
    assert breaker.state is BreakerState.OPEN
    clock.advance(5)
    with pytest.raises(HiveCircuitOpen) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(5.0)


def test_stale_permits_do_not_move_the_state(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", failure_threshold=2, cooldown_s=10, clock=clock)
    slow = breaker.before_call()  # admitted while closed, answers much later
    fail(breaker, 2)
    clock.advance(10)
    probe = breaker.before_call()
    breaker.record_success(slow)
    assert breaker.state is BreakerState.HALF_OPEN  # the stale success did not close it
    breaker.record_failure(probe)
    assert breaker.state is BreakerState.OPEN


def test_released_or_timed_out_probe_is_replaced(clock: ManualClock) -> None:
    breaker = open_breaker(clock, probe_timeout_s=5)
    clock.advance(10)
    probe = breaker.before_call()
    breaker.release(probe)
    second = breaker.before_call()
    assert second.probe and second.ticket != probe.ticket
    clock.advance(5)  # the second probe never reports
    third = breaker.before_call()
    breaker.record_success(second)  # too late: no longer the probe
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success(third)
    assert breaker.state is BreakerState.CLOSED


def test_a_failing_listener_never_breaks_the_call(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(event: BreakerEvent) -> None:
        raise RuntimeError("listener bug")

    seen: list[BreakerEvent] = []
    breaker = CircuitBreaker("m", failure_threshold=1, clock=clock, listeners=[boom, seen.append])
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN and len(seen) == 1
    assert "listener" in caplog.text


def test_protect_records_outcomes(clock: ManualClock) -> None:
    breaker = CircuitBreaker("m", failure_threshold=2, clock=clock)
    with pytest.raises(ValueError), breaker.protect(is_failure=lambda e: not isinstance(e, ValueError)):
        raise ValueError("a caller mistake, not the model's")
    assert breaker.consecutive_failures == 0
    for _ in range(2):
        with pytest.raises(RuntimeError), breaker.protect():
            raise RuntimeError("model down")
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(HiveCircuitOpen), breaker.protect():
        pass


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"failure_rate_threshold": 1.5},
        {"failure_rate_threshold": 0},
        {"window_s": 0},
        {"min_calls": 0},
        {"cooldown_s": -1},
        {"probe_timeout_s": 0},
    ],
)
def test_bad_configuration_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(HiveConfigError):
        CircuitBreaker("m", **kwargs)  # type: ignore[arg-type]


def test_exactly_one_probe_among_100_threads(clock: ManualClock) -> None:
    breaker = open_breaker(clock)
    clock.advance(10)
    barrier = threading.Barrier(100)
    admitted: list[Permit] = []
    refused: list[HiveCircuitOpen] = []
    lock = threading.Lock()

    def caller() -> None:
        barrier.wait()
        try:
            permit = breaker.before_call()
        except HiveCircuitOpen as exc:
            with lock:
                refused.append(exc)
            return
        with lock:
            admitted.append(permit)

    threads = [threading.Thread(target=caller) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 1 and admitted[0].probe and len(refused) == 99


@pytest.mark.anyio
async def test_exactly_one_probe_among_100_tasks(clock: ManualClock) -> None:
    breaker = open_breaker(clock)
    clock.advance(10)
    calls = 0

    async def caller() -> bool:
        nonlocal calls
        await asyncio.sleep(0)
        try:
            with breaker.protect():
                calls += 1
                await asyncio.sleep(0.01)  # the probe is still in flight while the others arrive
        except HiveCircuitOpen:
            return False
        return True

    outcomes = await asyncio.gather(*(caller() for _ in range(100)))
    assert sum(outcomes) == 1 and calls == 1
    assert breaker.state is BreakerState.CLOSED
