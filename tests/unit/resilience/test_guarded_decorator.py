"""``@guarded`` and ``@guarded(...)`` on sync and async functions that call a model."""

from __future__ import annotations

from typing import Any

import pytest

from hive_middleware.config import GuardConfig
from hive_middleware.errors import HiveCircuitOpen, HiveConfigError, HiveModelError
from hive_middleware.resilience.breaker import BreakerState
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.guarded import default_guard, guarded, set_default_guard
from hive_middleware.testing.manual_clock import ManualClock

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def guard(clock: ManualClock) -> Any:
    g = Guard(GuardConfig(initial_backoff_s=1, jitter=0, max_attempts=3, failure_threshold=3), clock=clock)
    set_default_guard(g)
    yield g
    set_default_guard(None)


def test_bare_decorator_retries_a_sync_function(
    guard: Guard, clock: ManualClock, litellm: Any, errors: Any
) -> None:
    script = [errors.unavailable(), "fine"]

    @guarded
    def ask(question: str) -> str:
        """Ask the model."""
        response = litellm.completion(
            model="gpt-4o", messages=[{"role": "user", "content": question}], mock_response=script.pop(0)
        )
        return str(response.choices[0].message.content)

    assert ask("hi") == "fine"
    assert clock.sleeps == [1.0]
    assert ask.__doc__ == "Ask the model." and ask.__name__ == "ask"
    assert default_guard() is guard
    assert list(guard.breakers) == [f"{__name__}.test_bare_decorator_retries_a_sync_function.<locals>.ask"]


@pytest.mark.anyio
async def test_parametrised_decorator_on_async_function_with_fallback(
    clock: ManualClock, litellm: Any, errors: Any
) -> None:
    guard = Guard(GuardConfig(max_attempts=1), clock=clock)
    models: list[str] = []

    @guarded(model="gpt-4o", guard=guard, fallbacks=["gpt-4o-mini"], tenant="acme")
    async def ask(messages: list[dict[str, str]], model: str = "gpt-4o") -> str:
        models.append(model)
        reply = errors.unavailable(model) if model == "gpt-4o" else "mini says hi"
        response = await litellm.acompletion(model=model, messages=messages, mock_response=reply)
        return str(response.choices[0].message.content)

    assert await ask(MESSAGES) == "mini says hi"
    assert models == ["gpt-4o", "gpt-4o-mini"]


def test_model_keyword_of_the_call_keys_the_breaker(guard: Guard, litellm: Any, errors: Any) -> None:
    @guarded()
    def ask(*, model: str, messages: list[dict[str, str]]) -> Any:
        return litellm.completion(model=model, messages=messages, mock_response=errors.unavailable(model))

    with pytest.raises(HiveModelError):
        ask(model="gpt-4o-mini", messages=MESSAGES)  # three failed attempts open the circuit
    assert guard.breaker("gpt-4o-mini").state is BreakerState.OPEN
    with pytest.raises(HiveCircuitOpen):
        ask(model="gpt-4o-mini", messages=MESSAGES)
    ok = guarded(guard=guard)(
        lambda *, model, messages: litellm.completion(model=model, messages=messages, mock_response="ok")
    )
    assert ok(model="gpt-4o", messages=MESSAGES).choices[0].message.content == "ok"


def test_fallbacks_need_a_model_keyword() -> None:
    with pytest.raises(HiveConfigError, match="model"):

        @guarded(fallbacks=["gpt-4o-mini"])
        def no_model(question: str) -> str:
            return question


def test_errors_that_are_not_model_failures_pass_through(guard: Guard) -> None:
    @guarded
    def buggy() -> None:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        buggy()
