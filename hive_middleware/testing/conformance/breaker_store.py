"""Conformance checks for :class:`~hive_middleware.resilience.breaker_store.BreakerStore`.

Each check takes a factory returning a fresh, empty store that uses the
caller's clock (the checks drive time by hand); every adapter (in-process,
Redis) must pass all of them. The last check replays random operation
sequences against the pure state machine and requires the same answers, so a
store that reimplements the machine (in a server-side script) cannot drift.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import replace

from hive_middleware.resilience.breaker_state import (
    AdmitOutcome,
    BreakerRecord,
    BreakerSettings,
    BreakerState,
    Permit,
    Transition,
    Verdict,
    admit,
    observed_state,
    record_outcome,
    reset_record,
)
from hive_middleware.resilience.breaker_store import BreakerStore

__all__ = ["BREAKER_STORE_CHECKS"]

BreakerStoreFactory = Callable[[], BreakerStore]
SETTINGS = BreakerSettings(
    failure_threshold=3,
    failure_rate_threshold=0.5,
    window_s=10.0,
    min_calls=4,
    cooldown_s=5.0,
    probe_timeout_s=20.0,
)
NAME = "model-a"


def _permit(store: BreakerStore, outcome: AdmitOutcome, name: str = NAME) -> Permit:
    assert outcome.ticket is not None, outcome
    return Permit(name, outcome.ticket, outcome.generation, outcome.probe, outcome.origin)


def _fail(
    store: BreakerStore, times: int, now: float, name: str = NAME, settings: BreakerSettings = SETTINGS
) -> None:
    for _ in range(times):
        permit = _permit(store, store.admit(name, settings, now), name)
        store.record(name, settings, permit, "failure", now)


def check_fresh_breaker_is_closed_and_admits(make: BreakerStoreFactory) -> None:
    """A breaker never seen is closed, admits calls with distinct tickets, and is not a probe."""
    store = make()
    snap = store.snapshot(NAME, SETTINGS, 0.0)
    assert (snap.state, snap.generation, snap.consecutive_failures) == (BreakerState.CLOSED, 0, 0)
    outcomes = [store.admit(NAME, SETTINGS, 0.0) for _ in range(3)]
    assert all(o.ticket is not None and not o.probe and not o.transitions for o in outcomes)
    assert len({o.ticket for o in outcomes}) == 3


def check_consecutive_failures_open_and_success_resets(make: BreakerStoreFactory) -> None:
    """``failure_threshold`` failures in a row open it; a success in between resets the count."""
    store = make()
    rules = replace(SETTINGS, failure_rate_threshold=None)
    _fail(store, 2, 0.0, settings=rules)
    assert store.snapshot(NAME, rules, 0.0).consecutive_failures == 2
    ok = _permit(store, store.admit(NAME, rules, 0.0))
    assert store.record(NAME, rules, ok, "success", 0.0) == ()
    assert store.snapshot(NAME, rules, 0.0).consecutive_failures == 0
    permits = [_permit(store, store.admit(NAME, rules, 0.0)) for _ in range(3)]
    changes = [store.record(NAME, rules, p, "failure", 1.0) for p in permits]
    assert changes[0] == () and changes[1] == ()
    (opened,) = changes[2]
    assert (opened.old, opened.new, opened.reason) == (BreakerState.CLOSED, BreakerState.OPEN, "3 consecutive failures")
    refused = store.admit(NAME, rules, 2.0)
    assert refused.ticket is None and refused.why == "open" and abs(refused.retry_after - 4.0) < 1e-9
    assert store.snapshot(NAME, rules, 2.0).state is BreakerState.OPEN


def check_cooldown_admits_exactly_one_probe(make: BreakerStoreFactory) -> None:
    """After the cooldown one caller gets the probe; the rest are refused until it reports."""
    store = make()
    _fail(store, 3, 0.0)
    assert store.snapshot(NAME, SETTINGS, 5.0).state is BreakerState.HALF_OPEN
    first = store.admit(NAME, SETTINGS, 5.0)
    assert first.probe and first.ticket is not None
    assert [(t.old, t.new, t.reason) for t in first.transitions] == [
        (BreakerState.OPEN, BreakerState.HALF_OPEN, "cooldown elapsed")
    ]
    for _ in range(5):
        refused = store.admit(NAME, SETTINGS, 6.0)
        assert refused.ticket is None and refused.why == "half-open with a probe in flight"
        assert abs(refused.retry_after - 5.0) < 1e-9  # min(cooldown, probe timeout left)
    (closed,) = store.record(NAME, SETTINGS, _permit(store, first), "success", 7.0)
    assert (closed.new, closed.reason) == (BreakerState.CLOSED, "probe succeeded")
    assert store.admit(NAME, SETTINGS, 7.0).ticket is not None


def check_probe_failure_reopens_for_a_full_cooldown(make: BreakerStoreFactory) -> None:
    """A failed probe re-opens the circuit, counted from the failure."""
    store = make()
    _fail(store, 3, 0.0)
    probe = _permit(store, store.admit(NAME, SETTINGS, 10.0))
    (reopened,) = store.record(NAME, SETTINGS, probe, "failure", 12.0)
    assert (reopened.old, reopened.new, reopened.reason) == (
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        "probe failed",
    )
    refused = store.admit(NAME, SETTINGS, 16.0)
    assert refused.ticket is None and abs(refused.retry_after - 1.0) < 1e-9
    assert store.admit(NAME, SETTINGS, 17.0).probe


def check_stale_permits_change_nothing(make: BreakerStoreFactory) -> None:
    """Outcomes of permits from an older generation are ignored."""
    store = make()
    old = _permit(store, store.admit(NAME, SETTINGS, 0.0))
    _fail(store, 3, 0.0)
    probe = _permit(store, store.admit(NAME, SETTINGS, 5.0))
    assert store.record(NAME, SETTINGS, old, "success", 5.0) == ()
    assert store.snapshot(NAME, SETTINGS, 5.0).state is BreakerState.HALF_OPEN
    store.record(NAME, SETTINGS, probe, "success", 5.0)
    gen = store.snapshot(NAME, SETTINGS, 5.0).generation
    assert store.record(NAME, SETTINGS, probe, "failure", 5.0) == ()
    assert store.snapshot(NAME, SETTINGS, 5.0).generation == gen


def check_released_or_timed_out_probe_is_replaced(make: BreakerStoreFactory) -> None:
    """A probe released without verdict frees the slot; one that never reports expires."""
    store = make()
    _fail(store, 3, 0.0)
    probe = _permit(store, store.admit(NAME, SETTINGS, 5.0))
    assert store.record(NAME, SETTINGS, probe, "none", 5.0) == ()
    second = store.admit(NAME, SETTINGS, 6.0)
    assert second.probe
    assert store.admit(NAME, SETTINGS, 25.9).ticket is None
    third = store.admit(NAME, SETTINGS, 26.0)  # 20 s probe timeout after 6.0
    assert third.probe and third.ticket != second.ticket
    # The lost probe reporting late changes nothing.
    assert store.record(NAME, SETTINGS, _permit(store, second), "failure", 27.0) == ()
    assert store.snapshot(NAME, SETTINGS, 27.0).state is BreakerState.HALF_OPEN


def check_failure_rate_opens_and_old_failures_slide_out(make: BreakerStoreFactory) -> None:
    """Half the calls failing over the window opens it; failures older than the window do not count."""
    store = make()
    verdicts: list[Verdict] = ["success", "failure", "success", "failure"]
    changes: list[Transition] = []
    for verdict in verdicts:
        permit = _permit(store, store.admit(NAME, SETTINGS, 1.0))
        changes += store.record(NAME, SETTINGS, permit, verdict, 1.0)
    assert [(c.new, c.reason) for c in changes] == [(BreakerState.OPEN, "failure rate 2/4 over 10s")]

    other = make()
    steps: list[tuple[float, Verdict]] = [(0.0, "failure"), (0.5, "success"), (11.0, "failure"), (11.5, "success")]
    for t, step in steps:
        permit = _permit(other, other.admit(NAME, SETTINGS, t))
        assert other.record(NAME, SETTINGS, permit, step, t) == ()
    assert other.snapshot(NAME, SETTINGS, 12.0).state is BreakerState.CLOSED


def check_reset_closes_and_forgets(make: BreakerStoreFactory) -> None:
    """``reset`` closes an open circuit and clears the failure count."""
    store = make()
    _fail(store, 3, 0.0)
    (closed,) = store.reset(NAME, 1.0)
    assert (closed.old, closed.new, closed.reason) == (BreakerState.OPEN, BreakerState.CLOSED, "reset")
    _fail(store, 2, 1.0)
    assert store.reset(NAME, 1.0) == ()
    assert store.snapshot(NAME, SETTINGS, 1.0).consecutive_failures == 0


def check_names_are_isolated(make: BreakerStoreFactory) -> None:
    """Breakers of different names never share state, whatever characters the names hold."""
    store = make()
    names = [NAME, "model-a@http://host:1/v1", "model:{a}", "模型"]
    _fail(store, 3, 0.0, name=names[0])
    for name in names[1:]:
        assert store.snapshot(name, SETTINGS, 0.0).state is BreakerState.CLOSED
        _fail(store, 2, 0.0, name=name)
    assert store.snapshot(names[0], SETTINGS, 0.0).state is BreakerState.OPEN
    assert all(store.snapshot(n, SETTINGS, 0.0).consecutive_failures == 2 for n in names[1:])


def check_async_twins_share_state(make: BreakerStoreFactory) -> None:
    """``aadmit``/``arecord`` act on the same breakers as the sync methods."""
    store = make()

    async def scenario() -> None:
        for _ in range(3):
            outcome = await store.aadmit(NAME, SETTINGS, 0.0)
            await store.arecord(NAME, SETTINGS, _permit(store, outcome), "failure", 0.0)
        assert store.admit(NAME, SETTINGS, 1.0).ticket is None
        probe = await store.aadmit(NAME, SETTINGS, 5.0)
        assert probe.probe
        (closed,) = await store.arecord(NAME, SETTINGS, _permit(store, probe), "success", 5.0)
        assert closed.new is BreakerState.CLOSED

    asyncio.run(scenario())
    assert store.snapshot(NAME, SETTINGS, 5.0).state is BreakerState.CLOSED


def check_one_probe_among_racing_threads(make: BreakerStoreFactory) -> None:
    """Sixteen threads asking at once in half-open: exactly one probe is admitted."""
    store = make()
    _fail(store, 3, 0.0)
    barrier = threading.Barrier(16)
    admitted: list[AdmitOutcome] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for _ in range(4):
            outcome = store.admit(NAME, SETTINGS, 5.0)
            if outcome.ticket is not None:
                with lock:
                    admitted.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 1 and admitted[0].probe


def check_matches_the_pure_state_machine(make: BreakerStoreFactory) -> None:
    """Random admit/record/reset sequences give the answers of :mod:`~.breaker_state` itself."""
    for seed in range(6):
        rng = random.Random(seed)
        store = make()
        record = BreakerRecord()
        tickets = itertools.count(1)
        model_permits: list[tuple[int, int, bool]] = []  # (ticket, generation, probe) in the model
        store_permits: list[Permit] = []
        now = 0.0
        for _ in range(120):
            now += rng.choice([0.0, 0.3, 1.0, 2.5, 6.0])
            roll = rng.random()
            if roll < 0.5:
                want = admit(record, SETTINGS, now, tickets.__next__)
                got = store.admit(NAME, SETTINGS, now)
                assert (got.ticket is None) == (want.ticket is None), (seed, now, got, want)
                assert (got.generation, got.probe, got.why) == (want.generation, want.probe, want.why)
                assert abs(got.retry_after - want.retry_after) < 1e-6
                assert [(t.old, t.new, t.reason) for t in got.transitions] == [
                    (t.old, t.new, t.reason) for t in want.transitions
                ]
                if want.ticket is not None and got.ticket is not None:
                    model_permits.append((want.ticket, want.generation, want.probe))
                    store_permits.append(_permit(store, got))
            elif roll < 0.97 and model_permits:
                i = rng.randrange(len(model_permits))
                verdict: Verdict = rng.choice(["success", "failure", "failure", "none"])
                ticket, generation, _ = model_permits.pop(i)
                want_changes = record_outcome(record, SETTINGS, generation, ticket, verdict, now)
                got_changes = store.record(NAME, SETTINGS, store_permits.pop(i), verdict, now)
                assert [(t.old, t.new, t.reason) for t in got_changes] == [
                    (t.old, t.new, t.reason) for t in want_changes
                ], (seed, now)
            elif roll >= 0.97:
                want_reset = reset_record(record, now)
                assert [(t.new, t.reason) for t in store.reset(NAME, now)] == [
                    (t.new, t.reason) for t in want_reset
                ]
            snap = store.snapshot(NAME, SETTINGS, now)
            assert snap.state is observed_state(record, SETTINGS, now), (seed, now)
            assert (snap.generation, snap.consecutive_failures) == (record.generation, record.consecutive)


BREAKER_STORE_CHECKS: list[Callable[[BreakerStoreFactory], None]] = [
    check_fresh_breaker_is_closed_and_admits,
    check_consecutive_failures_open_and_success_resets,
    check_cooldown_admits_exactly_one_probe,
    check_probe_failure_reopens_for_a_full_cooldown,
    check_stale_permits_change_nothing,
    check_released_or_timed_out_probe_is_replaced,
    check_failure_rate_opens_and_old_failures_slide_out,
    check_reset_closes_and_forgets,
    check_names_are_isolated,
    check_async_twins_share_state,
    check_one_probe_among_racing_threads,
    check_matches_the_pure_state_machine,
]
