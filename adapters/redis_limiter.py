"""LimiterStore on Redis: one token budget shared by every process, on every machine.

The bucket arithmetic of :mod:`hive_middleware.resilience.bucket` runs inside
one Lua script per call, so a reservation over several buckets (requests and
tokens) is atomic and all-or-nothing across processes. By default the script
reads Redis ``TIME``: processes on different machines share one clock and the
``now`` they pass is ignored (see :mod:`.redis_scripts`).

Key layout (``P`` = prefix; tenant, model and dimension percent-encoded; the
braces keep the buckets of one reservation in one cluster slot)::

    P:limit:{<tenant>:<model>}:<dimension>   hash  level, updated

A bucket key expires once its bucket would be full again (plus a minute), since
an absent bucket starts full: idle tenants and models cost no memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hive_middleware.adapters.redis_scripts import (
    LuaScript,
    TimeSource,
    aconnect,
    check_time_source,
    connect,
    fmt,
    text,
)

from hive_middleware.resilience.bucket import BucketSpec, ReserveOutcome
from hive_middleware.resilience.limiter_store import BucketKey, BucketTake, LimiterStore

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

__all__ = ["RedisLimiterStore"]

# ARGV: now | 'server', max_wait, then capacity, refill_per_s, cost for each KEYS[i].
# Mirrors bucket.plan_reservation: refill every bucket, the wait is the slowest
# bucket's, and nothing is written unless the reservation is granted.
_RESERVE = """
local now = ARGV[1]
if now == 'server' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(now)
end
local max_wait = tonumber(ARGV[2])
local levels, updates, caps, rates, costs = {}, {}, {}, {}, {}
local wait = 0
for i = 1, #KEYS do
  local cap, rate, cost = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local stored = redis.call('HMGET', KEYS[i], 'level', 'updated')
  local level, updated = cap, now
  if stored[1] then level, updated = tonumber(stored[1]), tonumber(stored[2]) end
  if now > updated then
    level = math.min(cap, level + (now - updated) * rate)
    updated = now
  end
  local deficit = cost - level
  if deficit > 0 then wait = math.max(wait, deficit / rate) end
  levels[i], updates[i], caps[i], rates[i], costs[i] = level, updated, cap, rate, cost
end
if wait > max_wait then return {0, string.format('%.17g', wait)} end
for i = 1, #KEYS do
  local level = levels[i] - costs[i]
  redis.call('HSET', KEYS[i], 'level', string.format('%.17g', level), 'updated', string.format('%.17g', updates[i]))
  redis.call('PEXPIRE', KEYS[i], math.ceil((caps[i] - level) / rates[i] * 1000) + 60000)
end
return {1, string.format('%.17g', wait)}
"""

# ARGV: now | 'server', capacity, refill_per_s, delta. Mirrors bucket.adjust_level.
_ADJUST = """
local now = ARGV[1]
if now == 'server' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(now)
end
local cap, rate, delta = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local stored = redis.call('HMGET', KEYS[1], 'level', 'updated')
local level, updated = cap, now
if stored[1] then level, updated = tonumber(stored[1]), tonumber(stored[2]) end
if now > updated then
  level = math.min(cap, level + (now - updated) * rate)
  updated = now
end
level = math.min(cap, level + delta)
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'updated', string.format('%.17g', updated))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - level) / rate * 1000) + 60000)
return 1
"""


class RedisLimiterStore(LimiterStore):
    """Token buckets in Redis, shared by every process using the same server and prefix.

    Args:
        client: A ready sync client (see :func:`~.redis_scripts.connect` for fail-fast settings).
        aclient: A ready asyncio client for the async twins, used on one event
            loop only.
        aclient_factory: Makes an asyncio client for each event loop that calls
            the async twins (``from_url`` passes one). With neither, the async
            twins run the sync client in a worker thread.
        prefix: Prefix of every key (``shared.prefix``).
        time_source: ``"server"`` (Redis ``TIME``; the default, needed when several
            processes share buckets) or ``"caller"`` (the ``now`` passed in).

    Raises:
        HiveConfigError: an unknown ``time_source``.

    Every method raises :class:`~hive_middleware.errors.HiveStorageError` when
    Redis is unreachable (``unavailable=True``) or fails; never a redis-py error.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        aclient: aredis.Redis | None = None,
        aclient_factory: Callable[[], aredis.Redis] | None = None,
        prefix: str = "hive",
        time_source: TimeSource = "server",
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.time_source = check_time_source(time_source)
        self._reserve = LuaScript(
            _RESERVE, client, aclient=aclient, aclient_factory=aclient_factory, what="a rate-limit reservation"
        )
        self._adjust = LuaScript(
            _ADJUST, client, aclient=aclient, aclient_factory=aclient_factory, what="a rate-limit refund"
        )

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "hive", time_source: TimeSource = "server"
    ) -> RedisLimiterStore:
        """A store on the Redis at ``url`` (``redis://host:port/db``), with fail-fast clients."""
        return cls(connect(url), prefix=prefix, time_source=time_source, aclient_factory=lambda: aconnect(url))

    def key(self, bucket: BucketKey) -> str:
        """The Redis key of one bucket."""
        tenant, model, dimension = (quote(part, safe="") for part in bucket)
        return f"{self.prefix}:limit:{{{tenant}:{model}}}:{dimension}"

    def _now(self, now: float) -> str:
        return "server" if self.time_source == "server" else fmt(now)

    def _reserve_call(
        self, takes: Sequence[BucketTake], now: float, max_wait: float
    ) -> tuple[list[str], list[str | float | int]]:
        keys = [self.key(key) for key, _, _ in takes]
        args: list[str | float | int] = [self._now(now), fmt(max_wait)]
        for _, spec, cost in takes:
            args += [fmt(spec.capacity), fmt(spec.refill_per_s), fmt(cost)]
        return keys, args

    @staticmethod
    def _outcome(reply: Any) -> ReserveOutcome:
        return ReserveOutcome(granted=int(reply[0]) == 1, wait=float(text(reply[1])))

    def reserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Take units from all buckets in ``takes`` within ``max_wait`` seconds, or from none."""
        if not takes:
            return ReserveOutcome(granted=True, wait=0.0)
        return self._outcome(self._reserve.run(*self._reserve_call(takes, now, max_wait)))

    async def areserve(self, takes: Sequence[BucketTake], now: float, max_wait: float) -> ReserveOutcome:
        """Async :meth:`reserve`."""
        if not takes:
            return ReserveOutcome(granted=True, wait=0.0)
        return self._outcome(await self._reserve.arun(*self._reserve_call(takes, now, max_wait)))

    def _adjust_args(self, spec: BucketSpec, delta: float, now: float) -> list[str | float | int]:
        return [self._now(now), fmt(spec.capacity), fmt(spec.refill_per_s), fmt(delta)]

    def adjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Refund (``delta > 0``) or charge (``delta < 0``) one bucket."""
        self._adjust.run([self.key(key)], self._adjust_args(spec, delta, now))

    async def aadjust(self, key: BucketKey, spec: BucketSpec, delta: float, now: float) -> None:
        """Async :meth:`adjust`."""
        await self._adjust.arun([self.key(key)], self._adjust_args(spec, delta, now))

    def close(self) -> None:
        """Close the sync client's connections (async clients close with their loops)."""
        self.client.close()
