"""Guarded calls through real litellm HTTP to a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hive_middleware.config import GuardConfig
from hive_middleware.errors import HiveCircuitOpen, HiveModelError, HiveRateLimited
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.retry import AttemptEvent
from hive_middleware.testing.fake_openai_server import FakeOpenAIServer, Reply
from hive_middleware.testing.manual_clock import ManualClock

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server(litellm: Any) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def make(clock: ManualClock, events: list[AttemptEvent] | None = None, **config: Any) -> Guard:
    settings = {"initial_backoff_s": 0.05, "jitter": 0.0, "allowed_models": ("openai/fake",), **config}
    return Guard(GuardConfig(**settings), clock=clock, on_attempt=[] if events is None else [events.append])


def call(guard: Guard, server: FakeOpenAIServer) -> Any:
    return guard.completion(model="openai/fake", api_base=server.url, api_key="x", messages=MESSAGES)


def test_retry_after_from_a_real_429_is_honoured(clock: ManualClock, server: FakeOpenAIServer) -> None:
    server.push(Reply(429, {"Retry-After": "2"}), Reply(503))
    events: list[AttemptEvent] = []
    response = call(make(clock, events), server)
    assert response.choices[0].message.content == "ok"
    assert len(server.requests) == 3  # no hidden SDK retries
    assert clock.sleeps == [2.0, 0.1]  # Retry-After, then plain backoff (0.05 * 2)
    assert [(e.status_code, e.retry_after, e.outcome) for e in events] == [
        (429, 2.0, "retry"),
        (503, None, "retry"),
        (None, None, "success"),
    ]


def test_persistent_503_opens_the_circuit(clock: ManualClock, server: FakeOpenAIServer) -> None:
    server.push(*[Reply(503) for _ in range(4)])
    guard = make(clock, max_attempts=2, failure_threshold=4)
    for _ in range(2):
        with pytest.raises(HiveModelError) as info:
            call(guard, server)
        assert info.value.status_code == 503 and info.value.provider == "openai"
    with pytest.raises(HiveCircuitOpen):
        call(guard, server)
    assert len(server.requests) == 4


def test_429_beyond_the_deadline_surfaces_as_rate_limited(
    clock: ManualClock, server: FakeOpenAIServer
) -> None:
    server.push(Reply(429, {"retry-after": "600"}))
    with pytest.raises(HiveRateLimited) as info:
        call(make(clock, deadline_s=60), server)
    assert info.value.retry_after == 600.0 and info.value.status_code == 429
    assert len(server.requests) == 1 and clock.sleeps == []


@pytest.mark.anyio
async def test_async_path_against_the_server(clock: ManualClock, server: FakeOpenAIServer) -> None:
    server.push(Reply(429, {"retry-after-ms": "1500"}))
    guard = make(clock)
    response = await guard.acompletion(
        model="openai/fake", api_base=server.url, api_key="x", messages=MESSAGES
    )
    assert response.choices[0].message.content == "ok"
    assert clock.sleeps == [1.5] and len(server.requests) == 2
