"""Split-phase guarding for hooks: admit before the call, finish after it."""

from __future__ import annotations

from typing import Any

import pytest

from hive_middleware.config import GuardConfig
from hive_middleware.errors import HiveCircuitOpen, HiveRateLimited
from hive_middleware.resilience import admission
from hive_middleware.resilience.breaker import BreakerState
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.limiter_store import InMemoryLimiterStore
from hive_middleware.testing.manual_clock import ManualClock

MESSAGES = [{"role": "user", "content": "hello there"}]


def test_admit_and_finish_feed_breaker_and_limiter(clock: ManualClock, litellm: Any, errors: Any) -> None:
    store = InMemoryLimiterStore()
    guard = Guard(GuardConfig(tokens_per_minute=1000, failure_threshold=2), clock=clock, store=store)
    ticket = admission.admit(guard, model="gpt-4o", tenant="acme", messages=MESSAGES, max_tokens=100)
    response = litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response="hi")
    admission.finish(guard, ticket, response=response)
    assert store.level(("acme", "gpt-4o", "tokens")) == pytest.approx(1000 - 30)  # usage, not the estimate
    for _ in range(2):
        ticket = admission.admit(guard, model="gpt-4o")
        admission.finish(guard, ticket, error=errors.unavailable())
    assert guard.breaker("gpt-4o").state is BreakerState.OPEN
    with pytest.raises(HiveCircuitOpen):
        admission.admit(guard, model="gpt-4o")


def test_client_errors_do_not_count_and_abandoned_calls_give_back(clock: ManualClock, errors: Any) -> None:
    guard = Guard(GuardConfig(requests_per_minute=1, failure_threshold=1, max_wait_s=0), clock=clock)
    ticket = admission.admit(guard, model="gpt-4o")
    admission.finish(guard, ticket, error=errors.bad_request())
    assert guard.breaker("gpt-4o").state is BreakerState.CLOSED
    with pytest.raises(HiveRateLimited):
        admission.admit(guard, model="gpt-4o")
    other = admission.admit(guard, model="gpt-4o-mini")
    admission.finish(guard, other)  # abandoned: the request slot comes back
    admission.finish(guard, admission.admit(guard, model="gpt-4o-mini"), response={})


@pytest.mark.anyio
async def test_async_twins(clock: ManualClock, errors: Any) -> None:
    guard = Guard(GuardConfig(failure_threshold=1, cooldown_s=5), clock=clock)
    ticket = await admission.aadmit(guard, model="gpt-4o", deployment="gpt-4o@eu")
    await admission.afinish(guard, ticket, error=errors.timeout())
    with pytest.raises(HiveCircuitOpen):
        await admission.aadmit(guard, model="gpt-4o", deployment="gpt-4o@eu")
    clock.advance(5)
    probe = await admission.aadmit(guard, model="gpt-4o", deployment="gpt-4o@eu")
    assert probe.permit.probe
    await admission.afinish(guard, probe, response={"usage": {"total_tokens": 3}})
    assert guard.breaker("gpt-4o@eu").state is BreakerState.CLOSED
