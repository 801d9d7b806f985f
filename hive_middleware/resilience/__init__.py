"""Guarded model calls: rate limiter, circuit breaker, retry policy, fallbacks.

Layers, outermost first, for every attempt of a call::

    RateLimiter (tenant, model)  →  CircuitBreaker (model/deployment)  →  model call
    └──────────── retried by RetryPolicy (tenacity) ──────────────┘  →  next fallback model

Pure policies (:mod:`.bucket`, :mod:`.breaker`, :class:`.retry.RetryPolicy`,
:mod:`.classify`) do no I/O; sync and async drivers share them, with time and
sleep injected through :class:`.clock.Clock`. Hooks that see a call in two
halves use :func:`.admission.admit` / :func:`.admission.finish` (and their async
twins). Limiter buckets and breaker states live in stores
(:class:`.limiter_store.LimiterStore`, :class:`.breaker_store.BreakerStore`):
in-process by default, shared by every process through Redis when
``shared.redis`` is set (:mod:`.shared`, falling back to in-process state while
Redis is down, :mod:`.failover`). Names load lazily so importing this package
stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY: dict[str, str] = {
    "Admission": "hive_middleware.resilience.admission",
    "AttemptEvent": "hive_middleware.resilience.retry",
    "BreakerEvent": "hive_middleware.resilience.breaker",
    "BreakerState": "hive_middleware.resilience.breaker",
    "BreakerStore": "hive_middleware.resilience.breaker_store",
    "CircuitBreaker": "hive_middleware.resilience.breaker",
    "Clock": "hive_middleware.resilience.clock",
    "Guard": "hive_middleware.resilience.guard",
    "InMemoryBreakerStore": "hive_middleware.resilience.breaker_store",
    "InMemoryLimiterStore": "hive_middleware.resilience.limiter_store",
    "LimiterStore": "hive_middleware.resilience.limiter_store",
    "Permit": "hive_middleware.resilience.breaker",
    "RateLimit": "hive_middleware.resilience.limiter",
    "RateLimiter": "hive_middleware.resilience.limiter",
    "Reservation": "hive_middleware.resilience.limiter",
    "RetryPolicy": "hive_middleware.resilience.retry",
    "SystemClock": "hive_middleware.resilience.clock",
    "aadmit": "hive_middleware.resilience.admission",
    "admit": "hive_middleware.resilience.admission",
    "afinish": "hive_middleware.resilience.admission",
    "aguarded_completion": "hive_middleware.resilience.guarded",
    "classify": "hive_middleware.resilience.classify",
    "default_guard": "hive_middleware.resilience.guarded",
    "finish": "hive_middleware.resilience.admission",
    "guarded": "hive_middleware.resilience.guarded",
    "guarded_completion": "hive_middleware.resilience.guarded",
    "set_default_guard": "hive_middleware.resilience.guarded",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hive_middleware.resilience' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
