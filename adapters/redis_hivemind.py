"""The hive mind's live layer on Redis: channels, agent registry, learning stream, outbox doorbell.

Key layout (``P`` = ``shared.prefix``; tenant, channel and agent names are
percent-encoded so ``:`` in a name never collides with the separator)::

    P:t:<tenant>:channels              hash   channel -> {"description", "created_at"}
    P:t:<tenant>:ch:<channel>          stream one entry per event, field "b" = JSON body
    P:t:<tenant>:ch:<channel>:seen     hash   event id -> stream id (idempotency)
    P:t:<tenant>:agents                zset   agent by last_seen
    P:t:<tenant>:agent:<agent>         hash   status, meta, last_seen, first_seen
    P:t:<tenant>:learning              stream one entry per step
    P:t:<tenant>:learning:seen         hash   step id -> stream id
    P:outbox-wake                      pub/sub channel of the embedding doorbell

Appends run one Lua script (check the seen-hash, ``XADD``, record the id) so a
replayed append, from a local queue flushed after an outage or a retry whose
first try did land, stores nothing twice. Subscribers block in ``XREAD BLOCK``,
so delivery is a push. Connection failures are raised as
:class:`~hive_middleware.errors.HiveStorageError` with ``unavailable=True``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from hive_middleware.errors import HiveDependencyError, HiveStorageError, HiveValidationError
from hive_middleware.hivemind.model import (
    AgentBeat,
    AgentRecord,
    ChannelEvent,
    ChannelInfo,
    LearnedStep,
    LearningStep,
    from_epoch,
)

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise HiveDependencyError(
        "the Redis hive-mind adapter needs redis-py; install hive-middleware[redis]", extra="redis"
    ) from _exc

__all__ = [
    "MAX_BLOCK_S",
    "RedisAgentRegistry",
    "RedisChannelLog",
    "RedisHiveMind",
    "RedisLearningLog",
    "RedisWakeSignal",
    "connect",
]

_log = logging.getLogger(__name__)

MAX_BLOCK_S = 5.0
"""Longest single ``XREAD BLOCK``; longer waits loop (the socket timeout stays above it)."""
SOCKET_TIMEOUT_S = MAX_BLOCK_S + 5.0

_CURSOR = re.compile(r"^\d+-\d+$")

_APPEND = """
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if seen then
  local got = redis.call('XRANGE', KEYS[1], seen, seen)
  if got[1] then return {seen, got[1][2][2]} end
  return {seen, ARGV[2]}
end
if #KEYS >= 3 then redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4]) end
local id = redis.call('XADD', KEYS[1], '*', 'b', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], id)
return {id, ARGV[2]}
"""

_CREATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return ARGV[2]
end
if ARGV[3] ~= '' then
  local d = cjson.decode(cur)
  d['description'] = ARGV[3]
  cur = cjson.encode(d)
  redis.call('HSET', KEYS[1], ARGV[1], cur)
end
return cur
"""

_BEAT = """
local seen = tonumber(ARGV[3])
local last = redis.call('HGET', KEYS[1], 'last_seen')
if not last then
  local meta = ARGV[4]
  if meta == '' then meta = '{}' end
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'meta', meta, 'last_seen', ARGV[3], 'first_seen', ARGV[3])
  redis.call('ZADD', KEYS[2], seen, ARGV[1])
  return 1
end
if seen >= tonumber(last) then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'last_seen', ARGV[3])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'meta', ARGV[4]) end
  redis.call('ZADD', KEYS[2], seen, ARGV[1])
end
if seen < tonumber(redis.call('HGET', KEYS[1], 'first_seen')) then
  redis.call('HSET', KEYS[1], 'first_seen', ARGV[3])
end
return 1
"""


def connect(url: str) -> redis.Redis:
    """A Redis client for ``url`` that fails fast when the server is down.

    One reconnect is tried per command (a pooled connection goes stale when the
    server restarts); beyond that the caller's fallback decides.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise HiveStorageError(
            f"Redis is unreachable during {what}: {exc}; the write is queued locally and retried when it returns",
            backend="redis",
            unavailable=True,
        ) from exc
    except redis.RedisError as exc:
        raise HiveStorageError(f"Redis failed during {what}: {exc}", backend="redis", unavailable=False) from exc


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def tenant(self, tenant: str, *parts: str) -> str:
        return ":".join([self.prefix, "t", quote(tenant, safe=""), *(quote(p, safe="") for p in parts)])


def _cursor(after: str | None) -> str:
    if after is None:
        return "0-0"
    if not isinstance(after, str) or not _CURSOR.match(after):
        raise HiveValidationError(
            f"cursor {after!r} is not a Redis stream id; pass a cursor this back-end returned", field="after"
        )
    return after


class RedisChannelLog:
    """:class:`~hive_middleware.hivemind.ports.ChannelLog` on Redis Streams.

    Args:
        client: A ready ``redis.Redis`` (see :func:`connect` for fail-fast settings).
        prefix: Prefix of every key.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = "hive") -> None:
        self._client = client
        self._keys = _Keys(prefix)
        self._append = client.register_script(_APPEND)
        self._create = client.register_script(_CREATE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hive") -> RedisChannelLog:
        """Connect to ``url`` (``redis://host:port/db``)."""
        return cls(connect(url), prefix=prefix)

    def create(self, tenant: str, name: str, description: str, created_at: float) -> ChannelInfo:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        fresh = json.dumps({"description": description, "created_at": created_at})
        with _translated("channel create"):
            raw = self._create(keys=[self._keys.tenant(tenant, "channels")], args=[name, fresh, description])
        data = json.loads(_text(raw))
        return ChannelInfo(tenant, name, data["description"], from_epoch(float(data["created_at"])))

    def channels(self, tenant: str) -> list[ChannelInfo]:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        with _translated("channel list"):
            raw = self._client.hgetall(self._keys.tenant(tenant, "channels"))
        out = []
        for name, value in raw.items():
            data = json.loads(_text(value))
            out.append(ChannelInfo(tenant, _text(name), data["description"], from_epoch(float(data["created_at"]))))
        return sorted(out, key=lambda c: c.name)

    def append(self, event: ChannelEvent) -> ChannelEvent:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        stream = self._keys.tenant(event.tenant, "ch", event.channel)
        catalog_entry = json.dumps({"description": "", "created_at": event.published_at.timestamp()})
        with _translated("publish"):
            cursor, body = self._append(
                keys=[stream, stream + ":seen", self._keys.tenant(event.tenant, "channels")],
                args=[event.event_id, event.to_body(), event.channel, catalog_entry],
            )
        return ChannelEvent.from_body(body, _text(cursor))

    def read(
        self, tenant: str, channel: str, after: str | None, limit: int, wait_s: float = 0.0
    ) -> list[ChannelEvent]:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        stream = self._keys.tenant(tenant, "ch", channel)
        start = _cursor(after)
        with _translated("channel read"):
            if wait_s > 0:
                block_ms = max(1, int(min(wait_s, MAX_BLOCK_S) * 1000))
                got: Any = self._client.xread({stream: start}, count=limit, block=block_ms)
                entries: Any = got[0][1] if got else []
            else:
                entries = self._client.xrange(stream, min="(" + start, max="+", count=limit)
        return [ChannelEvent.from_body(fields[b"b"], _text(entry_id)) for entry_id, fields in entries]

    def last_cursor(self, tenant: str, channel: str) -> str | None:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        with _translated("channel tail"):
            got = self._client.xrevrange(self._keys.tenant(tenant, "ch", channel), count=1)
        return _text(got[0][0]) if got else None

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


class RedisAgentRegistry:
    """:class:`~hive_middleware.hivemind.ports.AgentRegistry` on a Redis hash per agent and a sorted set."""

    def __init__(self, client: redis.Redis, *, prefix: str = "hive") -> None:
        self._client = client
        self._keys = _Keys(prefix)
        self._beat = client.register_script(_BEAT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hive") -> RedisAgentRegistry:
        """Connect to ``url``."""
        return cls(connect(url), prefix=prefix)

    def beat(self, tenant: str, beat: AgentBeat) -> None:
        """See :class:`~hive_middleware.hivemind.ports.AgentRegistry`."""
        meta = "" if beat.meta is None else json.dumps(dict(beat.meta), sort_keys=True)
        with _translated("agent heartbeat"):
            self._beat(
                keys=[self._keys.tenant(tenant, "agent", beat.agent), self._keys.tenant(tenant, "agents")],
                args=[beat.agent, beat.status, repr(float(beat.seen_at)), meta],
            )

    def agents(self, tenant: str) -> list[AgentRecord]:
        """See :class:`~hive_middleware.hivemind.ports.AgentRegistry`."""
        with _translated("agent list"):
            names = [_text(n) for n in self._client.zrange(self._keys.tenant(tenant, "agents"), 0, -1)]
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(self._keys.tenant(tenant, "agent", name))
            rows = pipe.execute()
        out = []
        for name, row in zip(names, rows, strict=True):
            if not row:
                continue
            out.append(
                AgentRecord(
                    agent=name,
                    status=_text(row[b"status"]),
                    meta=json.loads(_text(row[b"meta"])),
                    last_seen=float(row[b"last_seen"]),
                    first_seen=float(row[b"first_seen"]),
                )
            )
        return sorted(out, key=lambda a: (-a.last_seen, a.agent))

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


class RedisLearningLog:
    """:class:`~hive_middleware.hivemind.ports.LearningLog` on one Redis stream per tenant."""

    def __init__(self, client: redis.Redis, *, prefix: str = "hive") -> None:
        self._client = client
        self._keys = _Keys(prefix)
        self._append = client.register_script(_APPEND)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hive") -> RedisLearningLog:
        """Connect to ``url``."""
        return cls(connect(url), prefix=prefix)

    def append(self, tenant: str, step: LearningStep) -> LearnedStep:
        """See :class:`~hive_middleware.hivemind.ports.LearningLog`."""
        stream = self._keys.tenant(tenant, "learning")
        with _translated("learning append"):
            cursor, body = self._append(keys=[stream, stream + ":seen"], args=[step.step_id, step.to_body()])
        return LearnedStep(step=LearningStep.from_body(body), cursor=_text(cursor))

    def read(self, tenant: str, after: str | None, limit: int) -> list[LearnedStep]:
        """See :class:`~hive_middleware.hivemind.ports.LearningLog`."""
        start = _cursor(after)
        with _translated("learning read"):
            entries: Any = self._client.xrange(self._keys.tenant(tenant, "learning"), min="(" + start, max="+", count=limit)
        return [LearnedStep(step=LearningStep.from_body(f[b"b"]), cursor=_text(i)) for i, f in entries]

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


class RedisWakeSignal:
    """:class:`~hive_middleware.hivemind.ports.WakeSignal` on a Redis pub/sub channel.

    ``announce`` only sets a flag; a background thread publishes (rings that come
    while one is in flight are merged), so a commit never waits on Redis.

    Args:
        client: A ready ``redis.Redis``.
        channel: The pub/sub channel (one per deployment, e.g. ``hive:outbox-wake``).
        retry_s: Pause after a failed publish or a lost subscription.
    """

    def __init__(self, client: redis.Redis, *, channel: str, retry_s: float = 1.0) -> None:
        self._client = client
        self._channel = channel
        self._retry_s = retry_s
        self._ring = threading.Event()
        self._closed = threading.Event()
        self._announcer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.sent = 0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hive", retry_s: float = 1.0) -> RedisWakeSignal:
        """Connect to ``url``; the channel is ``<prefix>:outbox-wake``."""
        return cls(connect(url), channel=f"{prefix}:outbox-wake", retry_s=retry_s)

    def announce(self) -> None:
        """See :class:`~hive_middleware.hivemind.ports.WakeSignal`."""
        if self._announcer is None:
            with self._start_lock:
                if self._announcer is None:
                    self._announcer = threading.Thread(target=self._announce_loop, name="hive-wake-announce", daemon=True)
                    self._announcer.start()
        self._ring.set()

    def _announce_loop(self) -> None:
        while not self._closed.is_set():
            self._ring.wait()
            self._ring.clear()
            if self._closed.is_set():
                return
            try:
                self._client.publish(self._channel, b"1")
                self.sent += 1
            except redis.RedisError as exc:  # a lost ring only delays a worker to its next poll
                _log.debug("outbox doorbell not rung: %s", exc)
                self._closed.wait(self._retry_s)

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """See :class:`~hive_middleware.hivemind.ports.WakeSignal`."""
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self._channel)
                    try:
                        while not stop.is_set():
                            if pubsub.get_message(timeout=0.5) is not None:
                                callback()
                    finally:
                        pubsub.close()
                except redis.RedisError as exc:
                    _log.debug("outbox doorbell subscription lost: %s", exc)
                    stop.wait(self._retry_s)

        thread = threading.Thread(target=run, name="hive-wake-listen", daemon=True)
        thread.start()

        def cancel() -> None:
            stop.set()
            thread.join(5.0)

        return cancel

    def close(self) -> None:
        """Stop the announcer thread."""
        self._closed.set()
        self._ring.set()
        if self._announcer is not None:
            self._announcer.join(5.0)


class RedisHiveMind:
    """The four Redis back-ends on one client, for wiring by name.

    Args:
        client: A ready ``redis.Redis``.
        prefix: Prefix of every key (``shared.prefix``).
        retry_s: Pause of the doorbell after a failure (``shared.retry_s``).
    """

    def __init__(self, client: redis.Redis, *, prefix: str = "hive", retry_s: float = 1.0) -> None:
        self.client = client
        self.channels = RedisChannelLog(client, prefix=prefix)
        self.agents = RedisAgentRegistry(client, prefix=prefix)
        self.learning = RedisLearningLog(client, prefix=prefix)
        self.wake = RedisWakeSignal(client, channel=f"{prefix}:outbox-wake", retry_s=retry_s)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hive", retry_s: float = 1.0) -> RedisHiveMind:
        """Connect to ``url`` with :func:`connect`'s fail-fast settings."""
        return cls(connect(url), prefix=prefix, retry_s=retry_s)

    def close(self) -> None:
        """Stop the doorbell and close the client."""
        self.wake.close()
        self.client.close()
