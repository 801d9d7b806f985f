"""Measurements behind ``hive bench guard``: overhead, limiter accuracy, half-open probes, Retry-After.

Each function measures one property on the real clock with the real code paths
(litellm with ``mock_response``, a loopback HTTP server for Retry-After) and
returns plain numbers for the report.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from hive_middleware.config import GuardConfig
from hive_middleware.errors import HiveCircuitOpen, HiveModelError, HiveRuntimeError
from hive_middleware.resilience.guard import Guard
from hive_middleware.resilience.limiter import RateLimit, RateLimiter
from hive_middleware.resilience.retry import AttemptEvent
from hive_middleware.stats import percentile
from hive_middleware.testing.fake_openai_server import FakeOpenAIServer, Reply
from hive_middleware.tokens import load_litellm

__all__ = ["measure_half_open", "measure_limiter_rate", "measure_overhead", "measure_retry_after"]

MESSAGES = [
    {"role": "system", "content": "You are a coding agent. Answer with one shell command."},
    {
        "role": "user",
        "content": "The test suite fails in tests/test_parser.py::test_roundtrip. Show the failure.",
    },
]


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50) * 1e3, "p95": percentile(values, 95) * 1e3}


def measure_overhead(
    pairs: int = 2000, warmup: int = 200, block: int = 20, tick: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Guarded minus bare ``litellm.completion(mock_response=...)`` latency, interleaved pairs.

    The guard is fully armed: a request and a token budget (large enough never to
    wait), a breaker and the retry policy, with the token estimate taken from the
    messages. Calls alternate bare/guarded so both see the same machine.

    ``overhead_ms`` is the plain definition: p50 (p95) of all guarded calls minus
    p50 (p95) of all bare calls. On a shared machine the scheduler's preemptions
    (milliseconds) blur a 0.1 ms difference, so two steadier views come with it:
    ``block_median_overhead_ms`` (median guarded minus median bare within each block
    of ``block`` consecutive pairs, percentiles over blocks) and
    ``paired_overhead_ms`` (percentiles of single-pair differences).

    Returns:
        The three overhead views, ``bare_ms``/``guarded_ms`` percentiles, the raw
        latencies, and ``guard_only_ms`` (the guard around a no-op model function).
    """
    litellm = load_litellm()
    litellm.suppress_debug_info = True
    config = GuardConfig(requests_per_minute=1e9, tokens_per_minute=1e12)
    guard = Guard(config)
    kwargs: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES, "mock_response": "ls tests"}
    completion = litellm.completion

    def bare() -> float:
        t = time.perf_counter()
        completion(**kwargs)
        return time.perf_counter() - t

    def guarded() -> float:
        t = time.perf_counter()
        guard.completion(**kwargs)
        return time.perf_counter() - t

    for _ in range(warmup):
        bare()
        guarded()
    bare_s: list[float] = []
    guarded_s: list[float] = []
    gc.collect()
    for i in range(pairs):
        # Alternate the order so neither side always runs on a warmer cache.
        if i % 2:
            bare_s.append(bare())
            guarded_s.append(guarded())
        else:
            guarded_s.append(guarded())
            bare_s.append(bare())
        if tick is not None:
            tick()
    response = completion(**kwargs)
    noop_guard = Guard(config, completion_fn=lambda **_: response)
    only: list[float] = []
    for i in range(warmup + pairs):
        t = time.perf_counter()
        noop_guard.completion(**kwargs)
        if i >= warmup:
            only.append(time.perf_counter() - t)
    diffs = [g - b for g, b in zip(guarded_s, bare_s, strict=True)]
    size = max(1, min(block, pairs))
    blocks = [
        percentile(guarded_s[i : i + size], 50) - percentile(bare_s[i : i + size], 50)
        for i in range(0, pairs - size + 1, size)
    ]
    bare_ms, guarded_ms = _ms(bare_s), _ms(guarded_s)
    return {
        "overhead_ms": {k: guarded_ms[k] - bare_ms[k] for k in ("p50", "p95")},
        "block_median_overhead_ms": _ms(blocks),
        "paired_overhead_ms": _ms(diffs),
        "blocks": len(blocks),
        "block_pairs": size,
        "bare_ms": bare_ms,
        "guarded_ms": guarded_ms,
        "guard_only_ms": _ms(only),
        "pairs": pairs,
        "bare_samples_ms": [v * 1e3 for v in bare_s],
        "guarded_samples_ms": [v * 1e3 for v in guarded_s],
    }


def _window_errors(
    grants: list[float], start: float, rate: float, window_s: float, windows: int
) -> list[float]:
    errors = []
    for k in range(windows):
        lo, hi = start + k * window_s, start + (k + 1) * window_s
        granted = sum(1 for g in grants if lo <= g < hi)
        errors.append(granted / (rate * window_s) - 1.0)
    return errors


def measure_limiter_rate(
    *,
    tasks: int = 50,
    rate_per_s: float = 200.0,
    window_s: float = 10.0,
    windows: int = 1,
    warmup_s: float = 1.0,
    threads: bool = False,
) -> dict[str, Any]:
    """Granted rate of a limiter hammered by ``tasks`` concurrent callers, on the real clock.

    The bucket holds 0.05 s of budget, the callers start together, and grants
    are counted by wake-up time over ``windows`` consecutive windows of
    ``window_s`` after a ``warmup_s`` that drains the initial burst.

    Returns:
        ``error`` (signed relative error of all windows together) and ``per_window``.
    """
    limit = RateLimit(requests=rate_per_s * window_s, window_s=window_s, burst_s=0.05)
    limiter = RateLimiter(limit, max_wait_s=3600.0)
    grants: list[float] = []
    start = time.monotonic() + warmup_s
    stop = start + windows * window_s
    if threads:
        lock = threading.Lock()

        def worker() -> None:
            while True:
                limiter.acquire("bench", "model")
                now = time.monotonic()
                with lock:
                    grants.append(now)
                if now >= stop:
                    return

        pool = [threading.Thread(target=worker) for _ in range(tasks)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    else:

        async def task() -> None:
            while True:
                await limiter.aacquire("bench", "model")
                now = time.monotonic()
                grants.append(now)
                if now >= stop:
                    return

        async def main() -> None:
            await asyncio.gather(*(task() for _ in range(tasks)))

        asyncio.run(main())
    per_window = _window_errors(grants, start, rate_per_s, window_s, windows)
    in_range = sum(1 for g in grants if start <= g < stop)
    return {
        "error": in_range / (rate_per_s * window_s * windows) - 1.0,
        "per_window": per_window,
        "configured_per_s": rate_per_s,
        "granted_per_s": in_range / (window_s * windows),
        "tasks": tasks,
        "window_s": window_s,
        "windows": windows,
        "driver": "threads" if threads else "asyncio",
    }


def _open_breaker(guard: Guard, model: str) -> None:
    litellm = load_litellm()
    failure = litellm.ServiceUnavailableError("bench outage", llm_provider="openai", model=model)
    for _ in range(guard.config.failure_threshold):
        try:
            guard.completion(model=model, messages=MESSAGES, mock_response=failure)
        except HiveModelError:
            continue  # the scripted outage, as intended
        raise HiveRuntimeError(
            "bench setup: a scripted 503 did not fail the call; the breaker cannot be opened"
        )


def measure_half_open(callers: int = 100, probe_s: float = 0.3) -> dict[str, int]:
    """Model calls admitted when ``callers`` hit a half-open breaker at once (threads and asyncio).

    The breaker is opened by real failed calls (litellm ``mock_response`` with a
    503), the cooldown passes on the real clock, then all callers go through
    :meth:`Guard.completion`/:meth:`Guard.acompletion` together while the probe
    takes ``probe_s`` to answer.
    """
    litellm = load_litellm()
    litellm.suppress_debug_info = True
    config = GuardConfig(max_attempts=1, failure_threshold=3, cooldown_s=0.2)
    out: dict[str, int] = {}

    calls = {"threads": 0, "asyncio": 0}
    lock = threading.Lock()

    def slow_completion(**kwargs: Any) -> Any:
        if "mock_response" not in kwargs:
            with lock:
                calls["threads"] += 1
            kwargs = {**kwargs, "mock_response": "probe ok", "mock_delay": probe_s}
        return litellm.completion(**kwargs)

    guard = Guard(config, completion_fn=slow_completion)
    _open_breaker(guard, "gpt-4o")
    time.sleep(config.cooldown_s + 0.05)
    barrier = threading.Barrier(callers)
    refused = [0]

    def caller() -> None:
        barrier.wait()
        try:
            guard.completion(model="gpt-4o", messages=MESSAGES)
        except HiveCircuitOpen:
            with lock:
                refused[0] += 1

    pool = [threading.Thread(target=caller) for _ in range(callers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out["threads"] = calls["threads"]
    out["threads_refused"] = refused[0]

    async def slow_acompletion(**kwargs: Any) -> Any:
        calls["asyncio"] += 1
        await asyncio.sleep(probe_s)
        return await litellm.acompletion(**{**kwargs, "mock_response": "probe ok"})

    aguard = Guard(config, acompletion_fn=slow_acompletion)
    _open_breaker(aguard, "gpt-4o")
    time.sleep(config.cooldown_s + 0.05)

    async def acaller() -> bool:
        try:
            await aguard.acompletion(model="gpt-4o", messages=MESSAGES)
        except HiveCircuitOpen:
            return False
        return True

    async def main() -> list[bool]:
        return await asyncio.gather(*(acaller() for _ in range(callers)))

    outcomes = asyncio.run(main())
    out["asyncio"] = calls["asyncio"]
    out["asyncio_refused"] = outcomes.count(False)
    return out


def measure_retry_after(retry_after_s: float = 1.0) -> dict[str, Any]:
    """Whether a 429 with ``Retry-After`` from a loopback server is waited out before the retry.

    Drives real litellm HTTP (``model="openai/fake"``, ``api_base`` on 127.0.0.1)
    through the guard with a backoff far shorter than ``Retry-After``; honoured
    means the call succeeded and the server saw the retry no sooner than asked.
    """
    events: list[AttemptEvent] = []
    config = GuardConfig(initial_backoff_s=0.05, jitter=0.0, allowed_models=("openai/fake",))
    guard = Guard(config, on_attempt=[events.append])
    header = f"{retry_after_s:g}"
    with FakeOpenAIServer([Reply(429, {"Retry-After": header})]) as server:
        response = guard.completion(model="openai/fake", api_base=server.url, api_key="x", messages=MESSAGES)
        arrivals = [r.at for r in server.requests]
    gap = arrivals[1] - arrivals[0] if len(arrivals) >= 2 else 0.0
    ok = response.choices[0].message.content == "ok"
    return {
        "honoured": bool(ok and len(arrivals) == 2 and gap >= retry_after_s),
        "retry_after_s": retry_after_s,
        "gap_s": gap,
        "requests": len(arrivals),
        "decided_delay_s": events[0].delay if events else None,
    }
