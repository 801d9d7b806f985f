"""RetryPolicy decisions and the tenacity drivers on an injected clock."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hive_middleware.errors import HiveConfigError
from hive_middleware.resilience.classify import Failure, classify
from hive_middleware.resilience.retry import AttemptEvent, RetryPolicy, RetryRun, aretrying, retrying
from hive_middleware.testing.manual_clock import ManualClock


def failure(kind: str = "server", retryable: bool = True, retry_after: float | None = None) -> Failure:
    return Failure(kind, retryable, "failure", 503, "openai", retry_after)  # type: ignore[arg-type]


def test_exponential_backoff_with_jitter_bounds() -> None:
    policy = RetryPolicy(initial_backoff_s=1, multiplier=2, max_backoff_s=5, jitter=0.5)
    assert [policy.backoff(n, 0.0) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.backoff(2, 0.999999) == pytest.approx(1.0, abs=1e-5)
    assert RetryPolicy(jitter=0).backoff(1, 0.7) == 0.5


def test_decisions() -> None:
    policy = RetryPolicy(max_attempts=3, deadline_s=10, initial_backoff_s=1, jitter=0)
    assert policy.decide(1, failure(), 0, 0).retry
    assert not policy.decide(3, failure(), 0, 0).retry  # attempts used
    assert not policy.decide(1, failure("client", retryable=False), 0, 0).retry
    honoured = policy.decide(1, failure(retry_after=4), 0, 0)
    assert honoured.retry and honoured.delay == 4
    late = policy.decide(1, failure(retry_after=4), 6.5, 0)
    assert not late.retry and "deadline" in late.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"deadline_s": 0},
        {"initial_backoff_s": -1},
        {"initial_backoff_s": 2, "max_backoff_s": 1},
        {"multiplier": 0.5},
        {"jitter": 1.5},
    ],
)
def test_bad_policy_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(HiveConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_sync_driver_retries_on_the_injected_clock(clock: ManualClock, errors: Any) -> None:
    events: list[AttemptEvent] = []
    run = RetryRun(
        RetryPolicy(max_attempts=5, initial_backoff_s=1, jitter=0),
        "m",
        clock=clock,
        rng=random.Random(0),
        listeners=(events.append,),
    )
    script = [errors.rate_limit("3"), errors.unavailable(), "ok"]
    for attempt in retrying(run):
        with attempt:
            item = script.pop(0)
            if isinstance(item, Exception):
                raise item
    assert clock.sleeps == [3.0, 2.0]
    assert [(e.attempt, e.outcome, e.kind) for e in events] == [
        (1, "retry", "rate_limit"),
        (2, "retry", "server"),
        (3, "success", None),
    ]
    assert events[0].retry_after == 3.0 and events[1].elapsed == 3.0


def test_non_retryable_error_is_raised_at_once(clock: ManualClock, errors: Any) -> None:
    run = RetryRun(RetryPolicy(), "m", clock=clock)
    calls = 0
    with pytest.raises(type(errors.bad_request())):
        for attempt in retrying(run):
            with attempt:
                calls += 1
                raise errors.bad_request()
    assert calls == 1 and clock.sleeps == []
    assert classify(errors.bad_request()).kind == "client"


@pytest.mark.anyio
async def test_async_driver_gives_up_at_max_attempts(clock: ManualClock, errors: Any) -> None:
    events: list[AttemptEvent] = []
    run = RetryRun(
        RetryPolicy(max_attempts=3, initial_backoff_s=0.5, jitter=0),
        "m",
        clock=clock,
        listeners=(events.append,),
    )
    calls = 0
    with pytest.raises(type(errors.timeout())):
        async for attempt in aretrying(run):
            with attempt:
                calls += 1
                raise errors.timeout()
    assert calls == 3 and clock.sleeps == [0.5, 1.0]
    assert [e.outcome for e in events] == ["retry", "retry", "give_up"]
