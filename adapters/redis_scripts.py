"""Lua scripts on Redis for the shared limiter and breaker stores: clients, time, errors.

* :func:`connect` / :func:`aconnect` build clients that fail fast when the
  server is down (1 s to connect, one reconnect per command), so a guarded call
  falls back to local state within a second instead of hanging.
* :class:`LuaScript` runs one script from threads (the sync client) and from
  coroutines. An asyncio Redis connection belongs to the event loop that opened
  it, so the async side keeps one client per running loop (made by a factory);
  without a factory it runs the sync client in a worker thread.
* Every redis-py exception is translated to
  :class:`~hive_middleware.errors.HiveStorageError` (``backend="redis"``,
  ``unavailable=True`` for connection failures and timeouts), never raised raw.
* Time: ``"server"`` makes the script read Redis ``TIME``, so every process
  shares one clock; ``"caller"`` uses the ``now`` the caller passes (one process
  driving time by hand, as the conformance suites do). Never mix the two on
  one prefix: the stored timestamps would not compare.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from hive_middleware.errors import HiveConfigError, HiveDependencyError, HiveStorageError

try:
    import redis
    import redis.asyncio as aredis
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise HiveDependencyError(
        "the shared limiter and breaker stores need redis-py; install hive-middleware[redis]", extra="redis"
    ) from _exc

__all__ = [
    "CONNECT_TIMEOUT_S",
    "SOCKET_TIMEOUT_S",
    "LuaScript",
    "TimeSource",
    "aconnect",
    "check_time_source",
    "connect",
    "fmt",
    "text",
    "translated",
]

CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 2.0

#: ``"server"``: the script reads Redis ``TIME``; ``"caller"``: it uses the ``now`` passed in.
TimeSource = Literal["server", "caller"]


def connect(url: str) -> redis.Redis:
    """A sync client for ``url`` that fails fast when the server is down."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def aconnect(url: str) -> aredis.Redis:
    """An asyncio client for ``url`` that fails fast when the server is down (one per event loop)."""
    return aredis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        retry=AsyncRetry(NoBackoff(), 1),
        health_check_interval=30,
    )


def check_time_source(time_source: str) -> TimeSource:
    """``time_source`` itself, or a :class:`HiveConfigError` naming the two choices."""
    if time_source not in ("server", "caller"):
        raise HiveConfigError(
            f"time_source must be 'server' (Redis TIME, shared by all processes) or 'caller', "
            f"got {time_source!r}",
            key="time_source",
        )
    return time_source  # type: ignore[return-value]


def fmt(value: float) -> str:
    """A float as the exact decimal text Lua's ``tonumber`` reads back (17 significant digits)."""
    return repr(float(value))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn redis-py exceptions raised inside the block into :class:`HiveStorageError`."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise HiveStorageError(
            f"Redis is unreachable during {what}: {exc}; check shared.redis, or unset it to keep "
            "limits and breakers in-process",
            backend="redis",
            unavailable=True,
        ) from exc
    except redis.RedisError as exc:
        raise HiveStorageError(f"Redis failed during {what}: {exc}", backend="redis", unavailable=False) from exc


class LuaScript:
    """One Lua script, callable from threads and from any event loop.

    Args:
        source: The Lua source.
        client: Sync client used by :meth:`run`.
        aclient: Async client used by :meth:`arun` on every loop (the caller
            promises to use one loop), or ``None``.
        aclient_factory: Makes an async client for each running loop (used
            when ``aclient`` is ``None``); with neither, :meth:`arun` runs the
            sync client in a worker thread.
        what: Words for error messages (``"a rate-limit reservation"``).
    """

    def __init__(
        self,
        source: str,
        client: redis.Redis,
        *,
        aclient: aredis.Redis | None = None,
        aclient_factory: Callable[[], aredis.Redis] | None = None,
        what: str,
    ) -> None:
        self.source = source
        self.client = client
        self.what = what
        self._script = client.register_script(source)
        self._aclient = aclient
        self._factory = aclient_factory
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def run(self, keys: Sequence[str], args: Sequence[str | float | int]) -> Any:
        """Run the script with the sync client.

        Raises:
            HiveStorageError: Redis is unreachable (``unavailable=True``) or failed.
        """
        with translated(self.what):
            return self._script(keys=list(keys), args=list(args))

    def _async_script(self) -> Any | None:
        if self._aclient is not None:
            found = self._per_loop.get(asyncio.get_running_loop())
            if found is None:
                found = self._per_loop[asyncio.get_running_loop()] = self._aclient.register_script(self.source)
            return found
        if self._factory is None:
            return None
        loop = asyncio.get_running_loop()
        found = self._per_loop.get(loop)
        if found is None:
            found = self._per_loop[loop] = self._factory().register_script(self.source)
        return found

    async def arun(self, keys: Sequence[str], args: Sequence[str | float | int]) -> Any:
        """Run the script without blocking the event loop.

        Raises:
            HiveStorageError: Redis is unreachable (``unavailable=True``) or failed.
        """
        script = self._async_script()
        if script is None:
            return await asyncio.to_thread(self.run, keys, args)
        with translated(self.what):
            return await script(keys=list(keys), args=list(args))


def text(value: Any) -> str:
    """A Redis reply item as ``str``."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
