"""BreakerStore on Redis: one circuit per model shared by every process, on every machine.

The state machine of :mod:`hive_middleware.resilience.breaker_state` runs
inside one Lua script per call, so the failure count, the open → half-open
transition and the half-open probe slot are atomic across processes: however
many processes hammer a half-open circuit, exactly one gets the probe. The
probe slot is taken with a start time; a probe that has not reported after
``probe_timeout_s`` is replaced, so a crashed prober never wedges the circuit
(with ``probe_timeout_s=None`` it would, for every process: keep a timeout).
By default the script reads Redis ``TIME`` (see :mod:`.redis_scripts`).

Key layout (``P`` = prefix, breaker name percent-encoded)::

    P:breaker:{<name>}   hash  st, gen, cons, slots, opened, pticket, pstarted, tickets

``slots`` holds the failure-rate window as ``index,calls,failures;...``;
``tickets`` numbers admissions. A breaker untouched for a week expires (closed).
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

from hive_middleware.resilience.breaker_state import (
    WINDOW_SLOTS,
    AdmitOutcome,
    BreakerSettings,
    BreakerState,
    Permit,
    Transition,
    Verdict,
)
from hive_middleware.resilience.breaker_store import BreakerSnapshot, BreakerStore

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

__all__ = ["BREAKER_TTL_S", "RedisBreakerStore"]

BREAKER_TTL_S = 7 * 24 * 3600.0
"""A breaker hash untouched this long expires (and reads as closed with no history)."""

# ARGV: op, now | 'server', failure_threshold, failure_rate_threshold | '', window_s,
# min_calls, cooldown_s, probe_timeout_s | '', ttl_ms, slots, then for 'record':
# generation, ticket, verdict. Each step mirrors the function of breaker_state.py
# it is named after; replies carry the transitions as (old, new, reason) triples.
_BREAKER = """
local key, op = KEYS[1], ARGV[1]
local now = ARGV[2]
if now == 'server' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(now)
end
local threshold, rate_threshold = tonumber(ARGV[3]), tonumber(ARGV[4])
local window_s, min_calls, cooldown_s = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local probe_timeout, ttl_ms, nslots = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

local function fmt(x) return string.format('%.17g', x) end

local f = redis.call('HMGET', key, 'st', 'gen', 'cons', 'slots', 'opened', 'pticket', 'pstarted')
local r = {st = f[1] or 'closed', gen = tonumber(f[2]) or 0, cons = tonumber(f[3]) or 0, slots = {},
           opened = tonumber(f[5]) or 0, pticket = tonumber(f[6]) or 0, pstarted = tonumber(f[7]) or 0}
if f[4] then
  for a, b, c in string.gmatch(f[4], '([^,;]+),([^,;]+),([^,;]+)') do
    table.insert(r.slots, {tonumber(a), tonumber(b), tonumber(c)})
  end
end
local changes = {}

local function transition(new, reason)
  table.insert(changes, r.st)
  table.insert(changes, new)
  table.insert(changes, reason)
  r.st, r.gen, r.pticket = new, r.gen + 1, 0
  if new == 'closed' then r.cons, r.slots = 0, {} end
end
local function open(reason)
  r.opened = now
  transition('open', reason)
end
local function save()
  local parts = {}
  for _, s in ipairs(r.slots) do table.insert(parts, fmt(s[1]) .. ',' .. fmt(s[2]) .. ',' .. fmt(s[3])) end
  redis.call('HSET', key, 'st', r.st, 'gen', fmt(r.gen), 'cons', fmt(r.cons), 'slots', table.concat(parts, ';'),
             'opened', fmt(r.opened), 'pticket', fmt(r.pticket), 'pstarted', fmt(r.pstarted))
  redis.call('PEXPIRE', key, ttl_ms)
end
-- Python's float floor division (a // b), step for step, so slot indexes match.
local function floordiv(a, b)
  local mod = math.fmod(a, b)
  local div = (a - mod) / b
  if mod ~= 0 and ((b < 0) ~= (mod < 0)) then div = div - 1 end
  if div == 0 then return 0 end
  local fl = math.floor(div)
  if div - fl > 0.5 then fl = fl + 1 end
  return fl
end

if op == 'snapshot' then
  local st = r.st
  if st == 'open' and now >= r.opened + cooldown_s then st = 'half_open' end
  return {st, fmt(r.gen), fmt(r.cons)}
end

if op == 'admit' then
  if r.st == 'closed' then
    local ticket = redis.call('HINCRBY', key, 'tickets', 1)
    redis.call('PEXPIRE', key, ttl_ms)
    return {fmt(ticket), fmt(r.gen), 0, '0', ''}
  end
  if r.st == 'open' then
    local reopen_at = r.opened + cooldown_s
    if now < reopen_at then return {'0', fmt(r.gen), 0, fmt(reopen_at - now), 'open'} end
    transition('half_open', 'cooldown elapsed')
  end
  if r.pticket ~= 0 and (probe_timeout == nil or now < r.pstarted + probe_timeout) then
    local wait = cooldown_s
    if probe_timeout ~= nil then wait = math.min(wait, r.pstarted + probe_timeout - now) end
    if #changes > 0 then save() end
    return {'0', fmt(r.gen), 0, fmt(wait), 'half-open with a probe in flight', unpack(changes)}
  end
  local ticket = redis.call('HINCRBY', key, 'tickets', 1)
  r.pticket, r.pstarted = ticket, now
  save()
  return {fmt(ticket), fmt(r.gen), 1, '0', '', unpack(changes)}
end

if op == 'record' then
  local gen, ticket, verdict = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
  if verdict == 'none' then
    if ticket == r.pticket then
      redis.call('HSET', key, 'pticket', '0')
    end
    return {}
  end
  if gen ~= r.gen then return {} end
  local failed = verdict == 'failure'
  if r.st == 'half_open' then
    if ticket ~= r.pticket then return {} end
    r.pticket = 0
    if failed then open('probe failed') else transition('closed', 'probe succeeded') end
    save()
    return changes
  end
  if r.st ~= 'closed' then return {} end
  local index = floordiv(now, window_s / nslots)
  while #r.slots > 0 and r.slots[1][1] <= index - nslots do table.remove(r.slots, 1) end
  if #r.slots == 0 or r.slots[#r.slots][1] ~= index then table.insert(r.slots, {index, 0, 0}) end
  local slot = r.slots[#r.slots]
  slot[2] = slot[2] + 1
  if not failed then
    r.cons = 0
  else
    slot[3] = slot[3] + 1
    r.cons = r.cons + 1
    if r.cons >= threshold then
      open(string.format('%d consecutive failures', r.cons))
    elseif rate_threshold ~= nil then
      local calls, failures = 0, 0
      for _, s in ipairs(r.slots) do
        calls, failures = calls + s[2], failures + s[3]
      end
      if calls >= min_calls and failures / calls >= rate_threshold then
        open(string.format('failure rate %d/%d over %gs', failures, calls, window_s))
      end
    end
  end
  save()
  return changes
end

if op == 'reset' then
  if r.st ~= 'closed' then transition('closed', 'reset') end
  r.cons, r.slots = 0, {}
  save()
  return changes
end
return redis.error_reply('unknown breaker operation ' .. op)
"""


class RedisBreakerStore(BreakerStore):
    """Circuit-breaker state in Redis, shared by every process using the same server and prefix.

    Args:
        client: A ready sync client (see :func:`~.redis_scripts.connect` for fail-fast settings).
        aclient: A ready asyncio client for the async twins, used on one event loop only.
        aclient_factory: Makes an asyncio client for each event loop that calls
            the async twins (``from_url`` passes one). With neither, the async
            twins run the sync client in a worker thread.
        prefix: Prefix of every key (``shared.prefix``).
        time_source: ``"server"`` (Redis ``TIME``; the default, needed when several
            processes share breakers) or ``"caller"`` (the ``now`` passed in).

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
        self._script = LuaScript(
            _BREAKER, client, aclient=aclient, aclient_factory=aclient_factory, what="a circuit-breaker update"
        )

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "hive", time_source: TimeSource = "server"
    ) -> RedisBreakerStore:
        """A store on the Redis at ``url`` (``redis://host:port/db``), with fail-fast clients."""
        return cls(connect(url), prefix=prefix, time_source=time_source, aclient_factory=lambda: aconnect(url))

    def key(self, name: str) -> str:
        """The Redis key of breaker ``name``."""
        return f"{self.prefix}:breaker:{{{quote(name, safe='')}}}"

    def _args(self, op: str, settings: BreakerSettings, now: float, *extra: str) -> list[str | float | int]:
        rate = settings.failure_rate_threshold
        timeout = settings.probe_timeout_s
        return [
            op,
            "server" if self.time_source == "server" else fmt(now),
            str(settings.failure_threshold),
            "" if rate is None else fmt(rate),
            fmt(settings.window_s),
            str(settings.min_calls),
            fmt(settings.cooldown_s),
            "" if timeout is None else fmt(timeout),
            str(int(BREAKER_TTL_S * 1000)),
            str(WINDOW_SLOTS),
            *extra,
        ]

    @staticmethod
    def _transitions(items: Sequence[Any], now: float) -> tuple[Transition, ...]:
        words = [text(item) for item in items]
        return tuple(
            Transition(BreakerState(words[i]), BreakerState(words[i + 1]), now, words[i + 2])
            for i in range(0, len(words), 3)
        )

    @classmethod
    def _admit_outcome(cls, reply: Sequence[Any], now: float) -> AdmitOutcome:
        ticket = int(text(reply[0]))
        return AdmitOutcome(
            ticket if ticket else None,
            int(text(reply[1])),
            probe=int(reply[2]) == 1,
            retry_after=float(text(reply[3])),
            why=text(reply[4]),
            transitions=cls._transitions(reply[5:], now),
            origin="shared",
        )

    def _record_args(
        self, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> list[str | float | int]:
        return self._args("record", settings, now, str(permit.generation), str(permit.ticket), verdict)

    def admit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Admit one call to breaker ``name`` or refuse it (one probe across all processes)."""
        return self._admit_outcome(self._script.run([self.key(name)], self._args("admit", settings, now)), now)

    async def aadmit(self, name: str, settings: BreakerSettings, now: float) -> AdmitOutcome:
        """Async :meth:`admit`."""
        reply = await self._script.arun([self.key(name)], self._args("admit", settings, now))
        return self._admit_outcome(reply, now)

    def record(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Report the verdict of a call admitted with ``permit``; returns the state changes made."""
        reply = self._script.run([self.key(name)], self._record_args(settings, permit, verdict, now))
        return self._transitions(reply, now)

    async def arecord(
        self, name: str, settings: BreakerSettings, permit: Permit, verdict: Verdict, now: float
    ) -> tuple[Transition, ...]:
        """Async :meth:`record`."""
        reply = await self._script.arun([self.key(name)], self._record_args(settings, permit, verdict, now))
        return self._transitions(reply, now)

    def reset(self, name: str, now: float) -> tuple[Transition, ...]:
        """Close breaker ``name`` for every process and forget its history."""
        # Thresholds do not matter to a reset; any valid settings will do.
        settings = BreakerSettings(1, None, 1.0, 1, 1.0, None)
        return self._transitions(self._script.run([self.key(name)], self._args("reset", settings, now)), now)

    def snapshot(self, name: str, settings: BreakerSettings, now: float) -> BreakerSnapshot:
        """The current state of breaker ``name`` as every process sees it."""
        reply = self._script.run([self.key(name)], self._args("snapshot", settings, now))
        return BreakerSnapshot(BreakerState(text(reply[0])), int(text(reply[1])), int(text(reply[2])))

    def close(self) -> None:
        """Close the sync client's connections (async clients close with their loops)."""
        self.client.close()
