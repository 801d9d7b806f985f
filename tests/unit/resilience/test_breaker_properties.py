"""Property test: any interleaving of admissions and outcomes keeps the breaker's invariants."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hive_middleware.errors import HiveCircuitOpen
from hive_middleware.resilience.breaker import BreakerEvent, BreakerState, CircuitBreaker, Permit
from hive_middleware.testing.manual_clock import ManualClock

LEGAL = {
    (BreakerState.CLOSED, BreakerState.OPEN),
    (BreakerState.OPEN, BreakerState.HALF_OPEN),
    (BreakerState.HALF_OPEN, BreakerState.OPEN),
    (BreakerState.HALF_OPEN, BreakerState.CLOSED),
}

operation = st.one_of(
    st.tuples(st.just("call"), st.just(0)),
    st.tuples(st.sampled_from(["ok", "fail", "release"]), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=15)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=80))
def test_invariants_hold_for_any_sequence(ops: list[tuple[str, int]]) -> None:
    clock = ManualClock()
    events: list[BreakerEvent] = []
    breaker = CircuitBreaker(
        "m",
        failure_threshold=3,
        failure_rate_threshold=0.5,
        min_calls=4,
        window_s=20,
        cooldown_s=10,
        probe_timeout_s=None,
        clock=clock,
        listeners=[events.append],
    )
    outstanding: list[Permit] = []
    for op, arg in ops:
        if op == "call":
            try:
                outstanding.append(breaker.before_call())
            except HiveCircuitOpen as exc:
                assert breaker.state is not BreakerState.CLOSED and exc.retry_after >= 0
        elif op == "wait":
            clock.advance(arg)
        elif outstanding:
            permit = outstanding.pop(arg % len(outstanding))
            {"ok": breaker.record_success, "fail": breaker.record_failure, "release": breaker.release}[op](
                permit
            )
        state = breaker.state
        live_probes = [p for p in outstanding if p.probe and p.generation == breaker.generation]
        # Never more than one probe of the current half-open period is out.
        assert len(live_probes) <= 1
        if state is BreakerState.CLOSED:
            assert breaker.consecutive_failures < 3
    assert all((e.old, e.new) in LEGAL for e in events)
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))
