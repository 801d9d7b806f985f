"""Guarded litellm calls: fault-injection sequences through real litellm with ``mock_response``."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from hive_middleware.config import GuardConfig, HiveConfig
from hive_middleware.errors import HiveCircuitOpen, HiveConfigError, HiveModelError, HiveRateLimited
from hive_middleware.resilience.breaker import BreakerEvent, BreakerState
from hive_middleware.resilience.cost import estimate_message_tokens
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.guarded import aguarded_completion, guarded_completion
from hive_middleware.resilience.limiter_store import InMemoryLimiterStore
from hive_middleware.resilience.retry import AttemptEvent
from hive_middleware.testing.manual_clock import ManualClock

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]


class Script:
    """Feeds litellm one ``mock_response`` per call (text or exception instance) and logs the models called."""

    def __init__(self, litellm: Any, *items: Any) -> None:
        self.litellm = litellm
        self.items = list(items)
        self.models: list[str] = []

    def _next(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.models.append(kwargs["model"])
        item = self.items.pop(0) if self.items else "ok"
        return {**kwargs, "mock_response": item}

    def completion(self, **kwargs: Any) -> Any:
        return self.litellm.completion(**self._next(kwargs))

    async def acompletion(self, **kwargs: Any) -> Any:
        return await self.litellm.acompletion(**self._next(kwargs))


def make_guard(
    clock: ManualClock, script: Script, **config: Any
) -> tuple[Guard, list[AttemptEvent], list[BreakerEvent]]:
    attempts: list[AttemptEvent] = []
    changes: list[BreakerEvent] = []
    settings = {"initial_backoff_s": 1.0, "jitter": 0.0, **config}
    guard = Guard(
        GuardConfig(**settings),
        clock=clock,
        completion_fn=script.completion,
        acompletion_fn=script.acompletion,
        on_attempt=[attempts.append],
        on_breaker=[changes.append],
    )
    return guard, attempts, changes


def content(response: Any) -> str:
    return str(response.choices[0].message.content)


def test_429_with_retry_after_then_success(clock: ManualClock, litellm: Any, errors: Any) -> None:
    script = Script(litellm, errors.rate_limit("5"), "hello")
    guard, attempts, _ = make_guard(clock, script)
    assert content(guarded_completion(guard=guard, model="gpt-4o", messages=MESSAGES)) == "hello"
    assert clock.sleeps == [5.0]
    assert [(a.outcome, a.kind, a.delay) for a in attempts] == [
        ("retry", "rate_limit", 5.0),
        ("success", None, 0.0),
    ]


def test_persistent_503_raises_typed_model_error_with_cause(
    clock: ManualClock, litellm: Any, errors: Any
) -> None:
    script = Script(litellm, *[errors.unavailable() for _ in range(4)])
    guard, attempts, _ = make_guard(clock, script, max_attempts=4)
    with pytest.raises(HiveModelError) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES)
    err = info.value
    assert (err.status_code, err.provider, err.attempts) == (503, "openai", 4)
    assert type(err.__cause__).__name__ == "ServiceUnavailableError"
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "give_up"]


@pytest.mark.parametrize("factory", ["bad_request", "content_policy", "auth", "context_window"])
def test_non_retryable_errors_are_not_retried_nor_fallen_back(
    clock: ManualClock, litellm: Any, errors: Any, factory: str
) -> None:
    script = Script(litellm, getattr(errors, factory)())
    guard, _, _ = make_guard(clock, script, fallbacks=("gpt-4o-mini",))
    with pytest.raises(HiveModelError) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES)
    assert script.models == ["gpt-4o"] and clock.sleeps == []
    assert info.value.status_code in (400, 401) and info.value.provider == "openai"
    assert guard.breaker("gpt-4o").consecutive_failures == 0  # the deployment answered


def test_mock_response_exception_passed_by_the_caller(clock: ManualClock, litellm: Any, errors: Any) -> None:
    guard = Guard(GuardConfig(max_attempts=2, initial_backoff_s=0.1), clock=clock)
    with pytest.raises(HiveRateLimited) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES, mock_response=errors.rate_limit("2"))
    assert info.value.retry_after == 2.0 and info.value.source == "provider" and info.value.status_code == 429
    assert clock.sleeps == [2.0]


def test_breaker_opens_then_refuses_without_calling_then_probes(
    clock: ManualClock, litellm: Any, errors: Any
) -> None:
    script = Script(litellm, *[errors.unavailable() for _ in range(3)])
    guard, _, changes = make_guard(clock, script, max_attempts=1, failure_threshold=3, cooldown_s=30)
    for _ in range(3):
        with pytest.raises(HiveModelError):
            guard.completion(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(HiveCircuitOpen) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES)
    assert len(script.models) == 3 and info.value.retry_after == pytest.approx(30.0)
    clock.advance(30)
    assert content(guard.completion(model="gpt-4o", messages=MESSAGES)) == "ok"
    assert [c.new for c in changes] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_fallback_answers_when_primary_is_out(clock: ManualClock, litellm: Any, errors: Any) -> None:
    script = Script(litellm, errors.unavailable(), errors.unavailable(), "from mini")
    guard, attempts, _ = make_guard(clock, script, max_attempts=2, fallbacks=("gpt-4o-mini",))
    assert content(guard.completion(model="gpt-4o", messages=MESSAGES)) == "from mini"
    assert script.models == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]
    assert [(a.model, a.outcome) for a in attempts][-1] == ("gpt-4o-mini", "success")


def test_all_models_failing_raise_the_last_error_listing_the_others(
    clock: ManualClock, litellm: Any, errors: Any
) -> None:
    script = Script(litellm, errors.unavailable(), errors.rate_limit("1"))
    guard, _, _ = make_guard(clock, script, max_attempts=1)
    with pytest.raises(HiveRateLimited) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES, fallbacks=["gpt-4o-mini"])
    err = info.value
    assert err.model == "gpt-4o-mini"
    assert [(m, type(e).__name__) for m, e in err.failures] == [("gpt-4o", "HiveModelError")]
    assert "gpt-4o (HiveModelError)" in err.__notes__[0]


def test_open_circuit_goes_straight_to_the_fallback(clock: ManualClock, litellm: Any, errors: Any) -> None:
    script = Script(litellm)
    guard, _, _ = make_guard(clock, script, fallbacks=("gpt-4o-mini",))
    breaker = guard.breaker("gpt-4o")
    for _ in range(5):
        breaker.record_failure(breaker.before_call())
    assert content(guard.completion(model="gpt-4o", messages=MESSAGES)) == "ok"
    assert script.models == ["gpt-4o-mini"]


def test_local_rate_limit_is_typed_and_falls_back(clock: ManualClock, litellm: Any) -> None:
    script = Script(litellm)
    guard, _, _ = make_guard(clock, script, requests_per_minute=1, max_wait_s=0)
    guard.completion(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(HiveRateLimited) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES)
    assert info.value.source == "local" and info.value.retry_after == pytest.approx(60.0)
    assert content(guard.completion(model="gpt-4o", messages=MESSAGES, fallbacks=["gpt-4o-mini"])) == "ok"
    assert script.models == ["gpt-4o", "gpt-4o-mini"]


def test_tokens_estimated_before_and_corrected_after(clock: ManualClock, litellm: Any) -> None:
    store = InMemoryLimiterStore()
    script = Script(litellm)
    guard = Guard(
        GuardConfig(tokens_per_minute=10_000), clock=clock, store=store, completion_fn=script.completion
    )
    guard.completion(model="gpt-4o", messages=MESSAGES, max_tokens=500, tenant="acme")
    # mock_response reports 30 total tokens: the 500-token completion budget came back.
    assert store.level(("acme", "gpt-4o", "tokens")) == pytest.approx(10_000 - 30)


def test_message_estimate_matches_litellm_whole_list_count(litellm: Any) -> None:
    messages = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": "hi",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.py b.py"},
        {"role": "user", "name": "bo", "content": "ok"},
    ]
    for model in ("gpt-4o", "claude-3-5-sonnet-20240620"):
        assert estimate_message_tokens(messages, model) == litellm.token_counter(
            model=model, messages=messages
        )


def test_deadline_stops_a_retry_that_would_wait_past_it(
    clock: ManualClock, litellm: Any, errors: Any
) -> None:
    script = Script(litellm, errors.rate_limit("50"))
    guard, attempts, _ = make_guard(clock, script, deadline_s=20)
    with pytest.raises(HiveRateLimited) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES)
    assert info.value.retry_after == 50.0 and clock.sleeps == []
    assert attempts[-1].outcome == "give_up" and "deadline" in attempts[-1].reason


def test_a_bug_in_the_call_propagates_untouched_and_frees_the_probe(clock: ManualClock) -> None:
    def broken(**kwargs: Any) -> Any:
        raise KeyError("not a model failure")

    guard = Guard(GuardConfig(), clock=clock, completion_fn=broken)
    with pytest.raises(KeyError):
        guard.completion(model="gpt-4o", messages=MESSAGES)
    assert guard.breaker("gpt-4o").consecutive_failures == 0


def test_sdk_retries_are_off_and_deployments_have_their_own_breakers(clock: ManualClock) -> None:
    seen: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return {"usage": {"total_tokens": 1}}

    guard = Guard(GuardConfig(), clock=clock, completion_fn=record)
    guard.completion(model="openai/m", messages=MESSAGES, api_base="http://a:1/v1")
    guard.completion(model="openai/m", messages=MESSAGES, api_base="http://b:1/v1", max_retries=3)
    assert seen[0]["max_retries"] == 0 and seen[1]["max_retries"] == 3
    assert set(guard.breakers) == {"openai/m@http://a:1/v1", "openai/m@http://b:1/v1"}


def test_unknown_fallbacks_are_refused_at_construction(clock: ManualClock) -> None:
    with pytest.raises(HiveConfigError, match="gpt-4o-mnii"):
        Guard(GuardConfig(fallbacks=("gpt-4o-mnii",)))
    with pytest.raises(HiveConfigError, match="twice"):
        Guard(GuardConfig(fallbacks=("gpt-4o-mini", "gpt-4o-mini")))
    Guard(GuardConfig(fallbacks=("openai/gpt-4o-mini", "my-proxy-model"), allowed_models=("my-proxy-model",)))
    guard = Guard(GuardConfig(), clock=clock, completion_fn=lambda **kw: None)
    with pytest.raises(HiveConfigError):
        guard.completion(model="gpt-4o", messages=MESSAGES, fallbacks=["nope-model-x"])


@pytest.mark.parametrize(
    "bad",
    [
        {"requests_per_minute": -5},
        {"tokens_per_minute": 0},
        {"cooldown_s": 0},
        {"failure_threshold": 0},
        {"jitter": 2},
        {"requests_per_minute": 0.5},
    ],
)
def test_bad_guard_configuration_raises_config_error(bad: dict[str, float]) -> None:
    with pytest.raises(HiveConfigError):
        Guard(GuardConfig(**bad))


def test_from_hive_config_takes_the_tenant(clock: ManualClock) -> None:
    guard = Guard.from_config(
        HiveConfig.load(environ={}, tenant="acme", guard={"requests_per_minute": 5}), clock=clock
    )
    assert guard.tenant == "acme" and guard.limiter.limit_for("x") is not None


def test_half_open_admits_one_real_call_among_100_threads(clock: ManualClock) -> None:
    inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow_probe(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["model"])
        inside.set()
        release.wait(5)
        return {}

    guard = Guard(GuardConfig(cooldown_s=10), clock=clock, completion_fn=slow_probe)
    breaker = guard.breaker("gpt-4o")
    for _ in range(5):
        breaker.record_failure(breaker.before_call())
    clock.advance(10)
    barrier = threading.Barrier(100)
    refused: list[HiveCircuitOpen] = []

    def caller() -> None:
        barrier.wait()
        try:
            guard.completion(model="gpt-4o", messages=MESSAGES)
        except HiveCircuitOpen as exc:
            refused.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(100)]
    for t in threads:
        t.start()
    assert inside.wait(5)
    give_up = time.monotonic() + 10  # thread scheduling only; the guard runs on the manual clock
    while len(refused) < 99 and time.monotonic() < give_up:
        time.sleep(0.001)
    release.set()  # the probe answers only after every other caller was turned away
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(refused) == 99
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_async_sequence_with_fallback(clock: ManualClock, litellm: Any, errors: Any) -> None:
    script = Script(litellm, errors.timeout(), errors.connection(), "async ok")
    guard, attempts, _ = make_guard(clock, script, max_attempts=2, fallbacks=("gpt-4o-mini",))
    response = await aguarded_completion(guard=guard, model="gpt-4o", messages=MESSAGES)
    assert content(response) == "async ok" and script.models == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]
    assert [a.kind for a in attempts] == ["timeout", "connection", None]


@pytest.mark.anyio
async def test_async_half_open_admits_one_probe_among_100_tasks(clock: ManualClock) -> None:
    calls = 0

    async def probe(**kwargs: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return {}

    guard = Guard(GuardConfig(cooldown_s=10), clock=clock, acompletion_fn=probe)
    breaker = guard.breaker("gpt-4o")
    for _ in range(5):
        breaker.record_failure(breaker.before_call())
    clock.advance(10)

    async def caller() -> str:
        try:
            await guard.acompletion(model="gpt-4o", messages=MESSAGES)
        except HiveCircuitOpen:
            return "refused"
        return "ok"

    outcomes = await asyncio.gather(*(caller() for _ in range(100)))
    assert outcomes.count("ok") == 1 and calls == 1


@pytest.mark.anyio
async def test_async_typed_errors(clock: ManualClock, litellm: Any, errors: Any) -> None:
    script = Script(litellm, errors.bad_request())
    guard, _, _ = make_guard(clock, script)
    with pytest.raises(HiveModelError) as info:
        await guard.acompletion(model="gpt-4o", messages=MESSAGES)
    assert info.value.status_code == 400


def test_one_deadline_covers_the_fallbacks_too(clock: ManualClock, litellm: Any, errors: Any) -> None:
    script = Script(litellm, *[errors.unavailable() for _ in range(5)], "too late")
    guard, attempts, _ = make_guard(clock, script, max_attempts=5, deadline_s=7.5, fallbacks=("gpt-4o-mini",))
    with pytest.raises(HiveModelError) as info:
        guard.completion(model="gpt-4o", messages=MESSAGES)
    # gpt-4o fails at t = 0, 1, 3, 7 (a fifth try would start at 15 s); the fallback starts at
    # 7 s and fails once; its first retry would end at 8 s, past the 7.5 s deadline of the whole call.
    assert script.models == ["gpt-4o"] * 4 + ["gpt-4o-mini"]
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert info.value.model == "gpt-4o-mini"
    last = attempts[-1]
    assert (last.model, last.outcome, last.elapsed) == (
        "gpt-4o-mini",
        "give_up",
        7.0,
    ) and "deadline" in last.reason


def test_an_interrupt_during_backoff_is_not_dressed_as_a_model_error(litellm: Any, errors: Any) -> None:
    class InterruptingClock(ManualClock):
        def sleep(self, seconds: float) -> None:
            raise KeyboardInterrupt

    script = Script(litellm, errors.unavailable())
    guard = Guard(GuardConfig(), clock=InterruptingClock(), completion_fn=script.completion)
    with pytest.raises(KeyboardInterrupt):
        guard.completion(model="gpt-4o", messages=MESSAGES)
