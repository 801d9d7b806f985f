"""Wiring the shared limiter and breaker stores from ``shared.redis``, without importing adapters.

The core never imports ``hive_middleware.adapters``; the URL scheme names an
adapter and this module resolves it with :mod:`importlib` (like
:mod:`hive_middleware.memory.backends`). The stores come wrapped in
:mod:`.failover`, so an unreachable server means in-process limits and breakers
until it returns, never a failed call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from hive_middleware.config import SharedConfig
from hive_middleware.errors import HiveConfigError, HiveDependencyError
from hive_middleware.resilience.breaker_store import BreakerStore, InMemoryBreakerStore
from hive_middleware.resilience.failover import FailoverBreakerStore, FailoverLimiterStore, FailoverSwitch
from hive_middleware.resilience.limiter_store import InMemoryLimiterStore, LimiterStore

__all__ = [
    "SHARED_BREAKER_STORES",
    "SHARED_LIMITER_STORES",
    "SharedGuardStores",
    "open_shared_guard_stores",
    "open_shared_stores",
]

#: URL scheme -> ``module:class`` of the shared limiter store.
SHARED_LIMITER_STORES: dict[str, str] = {
    scheme: "hive_middleware.adapters.redis_limiter:RedisLimiterStore" for scheme in ("redis", "rediss", "unix")
}
#: URL scheme -> ``module:class`` of the shared breaker store.
SHARED_BREAKER_STORES: dict[str, str] = {
    scheme: "hive_middleware.adapters.redis_breaker:RedisBreakerStore" for scheme in ("redis", "rediss", "unix")
}


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        raise HiveDependencyError(
            f"shared limits and breakers need a package that is not installed ({exc.name}); "
            "install hive-middleware[redis]",
            extra="redis",
        ) from exc


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def open_shared_stores(url: str, *, prefix: str) -> tuple[LimiterStore, BreakerStore]:
    """The bare shared limiter and breaker stores for ``url`` (no failover: errors are raised).

    Args:
        url: Server URL (``redis://host:port/db``).
        prefix: Prefix of every key they write.

    Raises:
        HiveConfigError: a URL whose scheme no shared store handles.
        HiveDependencyError: the ``[redis]`` extra is not installed.
    """
    scheme = urlsplit(url).scheme
    if scheme not in SHARED_LIMITER_STORES:
        raise HiveConfigError(
            f"shared.redis={_redacted(url)!r} is not a Redis URL; use redis://host:port/db "
            f"(schemes: {', '.join(sorted(SHARED_LIMITER_STORES))}) or leave it unset",
            key="shared.redis",
        )
    limiter: LimiterStore = _resolve(SHARED_LIMITER_STORES[scheme]).from_url(url, prefix=prefix)
    breakers: BreakerStore = _resolve(SHARED_BREAKER_STORES[scheme]).from_url(url, prefix=prefix)
    return limiter, breakers


def _close(store: object) -> None:
    closer = getattr(store, "close", None)
    if callable(closer):
        closer()


@dataclass
class SharedGuardStores:
    """The limiter and breaker stores of one shared server, behind one failover switch.

    Attributes:
        limiter: Give to :class:`~hive_middleware.resilience.guard.Guard` as ``store``.
        breakers: Give to the guard as ``breaker_store``.
        switch: The outage state of the server (``switch.shared_up``, ``switch.outages``).
        close: Closes the server connections.
    """

    limiter: FailoverLimiterStore
    breakers: FailoverBreakerStore
    switch: FailoverSwitch
    close: Callable[[], None]


def open_shared_guard_stores(
    shared: SharedConfig,
    *,
    on_change: Callable[[str], None] | None = None,
    now: Callable[[], float] = time.monotonic,
) -> SharedGuardStores | None:
    """The stores ``shared.redis`` names, or ``None`` when it is unset (everything in-process).

    Connecting is lazy: a server that is down now costs nothing until the first
    call, which then runs on in-process state.

    Args:
        shared: The ``shared`` config section (``redis``, ``prefix``, ``retry_s``).
        on_change: Told ``"unavailable"`` / ``"restored"`` when an outage starts / ends.
        now: Monotonic time source of the retry schedule.

    Raises:
        HiveConfigError: a URL whose scheme no shared store handles.
        HiveDependencyError: the ``[redis]`` extra is not installed.
    """
    url = shared.redis
    if url is None:
        return None
    limiter, breakers = open_shared_stores(url, prefix=shared.prefix)
    switch = FailoverSwitch(f"Redis at {_redacted(url)}", retry_s=shared.retry_s, now=now, on_change=on_change)

    def close() -> None:
        _close(limiter)
        _close(breakers)

    return SharedGuardStores(
        limiter=FailoverLimiterStore(limiter, InMemoryLimiterStore(), switch),
        breakers=FailoverBreakerStore(breakers, InMemoryBreakerStore(), switch),
        switch=switch,
        close=close,
    )
