"""Channels: a tenant's agents publish memories to named channels and subscribe to them.

``stack.channels`` is a :class:`Channels` bound to the stack's tenant. Every call
has an async twin (``apublish``, ``afeed``...); a :class:`Subscription` iterates
with ``for`` and ``async for``.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Mapping
from typing import Any

from hive_middleware.errors import HiveNotFoundError, HiveTenantError, HiveValidationError
from hive_middleware.hivemind.model import ChannelEvent, ChannelInfo, check_name, check_tenant, from_epoch
from hive_middleware.hivemind.ports import ChannelLog
from hive_middleware.hivemind.subscription import Subscription
from hive_middleware.pipeline.counters import Counters
from hive_middleware.types import MemoryRecord

__all__ = ["DEFAULT_FEED_LIMIT", "MAX_FEED_LIMIT", "Channels", "RecordLookup"]

DEFAULT_FEED_LIMIT = 100
MAX_FEED_LIMIT = 10_000

RecordLookup = Callable[[str, str], MemoryRecord | None]
"""``(tenant, record_id) -> record or None``: how a channel finds a record published by id."""


def check_limit(limit: object) -> int:
    """Validate a page size.

    Raises:
        HiveValidationError: not an int in ``1..MAX_FEED_LIMIT``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FEED_LIMIT:
        raise HiveValidationError(f"limit must be an int in 1..{MAX_FEED_LIMIT}, got {limit!r}", field="limit")
    return limit


class Channels:
    """The channels of one tenant.

    Args:
        log: Where channels live (SQLite file, or Redis through the local fallback).
        tenant: Whose channels these are.
        lookup: Finds a record published by id (default: ids are refused).
        clock: Wall clock in seconds since the epoch (``published_at``, ``created_at``).
        retry_s: Pause of a subscriber while the back-end is unreachable.
        stats: Counters (``hivemind.published`` ...).
    """

    def __init__(
        self,
        log: ChannelLog,
        tenant: str,
        *,
        lookup: RecordLookup | None = None,
        clock: Callable[[], float] = time.time,
        retry_s: float = 1.0,
        stats: Counters | None = None,
    ) -> None:
        self.log = log
        self.tenant = check_tenant(tenant)
        self._lookup = lookup
        self._clock = clock
        self._retry_s = retry_s
        self.stats = stats if stats is not None else Counters()

    def for_tenant(self, tenant: str) -> Channels:
        """The same channels API bound to another tenant (servers serving many tenants)."""
        return Channels(self.log, tenant, lookup=self._lookup, clock=self._clock, retry_s=self._retry_s,
                        stats=self.stats)

    def create(self, name: str, description: str = "") -> ChannelInfo:
        """Create a channel (idempotent; a non-empty description replaces the old one).

        Publishing to a channel that was never created creates it too.

        Raises:
            HiveValidationError: bad name or description.
        """
        check_name(name, "channel")
        if not isinstance(description, str):
            raise HiveValidationError(f"description must be a string, got {type(description).__name__}",
                                      field="description")
        return self.log.create(self.tenant, name, description, self._clock())

    def list(self) -> builtins.list[ChannelInfo]:
        """Every channel of the tenant, by name."""
        return self.log.channels(self.tenant)

    def publish(
        self,
        name: str,
        record: MemoryRecord | str,
        *,
        agent: str | None = None,
        event_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ChannelEvent:
        """Share a memory with every subscriber of channel ``name``.

        Args:
            name: The channel.
            record: The record, or its id (looked up in the tenant's memory).
            agent: Who publishes (default: ``record.metadata["author"]`` if set).
            event_id: Idempotency id (default: the record id, so publishing a
                record twice to a channel stores it once).
            metadata: JSON-serialisable extra fields.

        Returns:
            The stored event with its cursor (``cursor=None`` while it waits in
            the local queue for the shared back-end).

        Raises:
            HiveValidationError: bad channel, agent or id.
            HiveNotFoundError: ``record`` is an id no record of the tenant has.
            HiveTenantError: the record belongs to another tenant.
            HiveStorageError: the back-end failed and the write could not be queued.
        """
        check_name(name, "channel")
        rec = self._record(record)
        if agent is None:
            author = rec.metadata.get("author")
            agent = author if isinstance(author, str) and author.strip() else None
        else:
            check_name(agent, "agent")
        event = ChannelEvent(
            tenant=self.tenant,
            channel=name,
            event_id=check_name(event_id if event_id is not None else rec.id, "event_id"),
            record_id=rec.id,
            content=rec.content,
            agent=agent,
            published_at=from_epoch(self._clock()),
            metadata=dict(metadata or {}),
        )
        stored = self.log.append(event)
        self.stats.add("hivemind.published")
        return stored

    def _record(self, record: MemoryRecord | str) -> MemoryRecord:
        if isinstance(record, MemoryRecord):
            if record.tenant != self.tenant:
                raise HiveTenantError(
                    f"record {record.id} belongs to tenant {record.tenant!r}, not {self.tenant!r}; publish it "
                    "through that tenant's channels",
                    tenant=record.tenant,
                )
            return record
        check_name(record, "record")
        found = self._lookup(self.tenant, record) if self._lookup is not None else None
        if found is None:
            raise HiveNotFoundError(
                f"no memory record {record!r} in tenant {self.tenant!r}; pass the MemoryRecord that "
                "remember() returned, or an id of this tenant",
                record_id=record,
            )
        return found

    def feed(self, name: str, *, after: str | None = None, limit: int = DEFAULT_FEED_LIMIT) -> builtins.list[ChannelEvent]:
        """The channel's history: up to ``limit`` events after cursor ``after``, oldest first."""
        check_name(name, "channel")
        return self.log.read(self.tenant, name, after, check_limit(limit))

    def subscribe(self, name: str, *, after: str | None = None, wait_s: float = 1.0) -> Subscription:
        """Events of channel ``name`` pushed as they are published.

        Args:
            name: The channel.
            after: Resume after this cursor (``None``: only events published
                from now on).
            wait_s: Longest single blocking read (bounds how long ``close`` waits).

        Returns:
            A :class:`Subscription` (``for``/``async for``; close it when done).
        """
        check_name(name, "channel")
        if after is None:
            # "From now" is "after the newest event" (from the start of an empty channel).
            after = self.log.last_cursor(self.tenant, name)
        return Subscription(self.log, self.tenant, name, after, wait_s=wait_s, retry_s=self._retry_s,
                            stats=self.stats)

    # -- async twins ----------------------------------------------------------------------

    async def acreate(self, name: str, description: str = "") -> ChannelInfo:
        """See :meth:`create`."""
        return await asyncio.to_thread(self.create, name, description)

    async def alist(self) -> builtins.list[ChannelInfo]:
        """See :meth:`list`."""
        return await asyncio.to_thread(self.list)

    async def apublish(
        self,
        name: str,
        record: MemoryRecord | str,
        *,
        agent: str | None = None,
        event_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ChannelEvent:
        """See :meth:`publish`."""
        return await asyncio.to_thread(
            self.publish, name, record, agent=agent, event_id=event_id, metadata=metadata
        )

    async def afeed(self, name: str, *, after: str | None = None, limit: int = DEFAULT_FEED_LIMIT) -> builtins.list[ChannelEvent]:
        """See :meth:`feed`."""
        return await asyncio.to_thread(self.feed, name, after=after, limit=limit)

    async def asubscribe(self, name: str, *, after: str | None = None, wait_s: float = 1.0) -> Subscription:
        """See :meth:`subscribe` (iterate the result with ``async for``)."""
        return await asyncio.to_thread(self.subscribe, name, after=after, wait_s=wait_s)
