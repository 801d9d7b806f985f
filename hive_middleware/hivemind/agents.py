"""The agent registry of one tenant: who is there, doing what, and whether still alive."""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hive_middleware.errors import HiveError, HiveValidationError
from hive_middleware.hivemind.model import AgentBeat, AgentInfo, check_name, check_tenant, from_epoch
from hive_middleware.hivemind.ports import AgentRegistry
from hive_middleware.pipeline.counters import Counters

__all__ = ["Agents"]

_log = logging.getLogger(__name__)


def _status(status: object) -> str:
    if not isinstance(status, str) or len(status) > 200:
        raise HiveValidationError(f"status must be a string of at most 200 characters, got {status!r}",
                                  field="status")
    return status


class Agents:
    """The agents of one tenant.

    Args:
        registry: Where beats go (SQLite file, or Redis through the local fallback).
        tenant: Whose agents these are.
        ttl_s: An agent is alive while its last beat is at most this old (``shared.agent_ttl_s``).
        heartbeat_s: Period of :meth:`running`'s background beats (``shared.heartbeat_s``).
        clock: Wall clock in seconds since the epoch.
        stats: Counters (``hivemind.heartbeat_failed``).
    """

    def __init__(
        self,
        registry: AgentRegistry,
        tenant: str,
        *,
        ttl_s: float = 30.0,
        heartbeat_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        stats: Counters | None = None,
    ) -> None:
        self.registry = registry
        self.tenant = check_tenant(tenant)
        self.ttl_s = ttl_s
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self.stats = stats if stats is not None else Counters()

    def for_tenant(self, tenant: str) -> Agents:
        """The same registry API bound to another tenant."""
        return Agents(self.registry, tenant, ttl_s=self.ttl_s, heartbeat_s=self.heartbeat_s, clock=self._clock,
                      stats=self.stats)

    def register(self, agent: str, status: str = "idle", meta: Mapping[str, Any] | None = None) -> None:
        """Announce ``agent`` with its status and meta (a beat that also sets the meta).

        Raises:
            HiveValidationError: bad name, status or non-JSON meta.
        """
        if meta is not None and not isinstance(meta, Mapping):
            raise HiveValidationError(f"meta must be a mapping, got {type(meta).__name__}", field="meta")
        self.registry.beat(self.tenant, AgentBeat(check_name(agent, "agent"), _status(status), self._clock(),
                                                  {} if meta is None else dict(meta)))

    def heartbeat(self, agent: str, status: str = "active") -> None:
        """Say ``agent`` is alive, with its current status (the meta is kept)."""
        self.registry.beat(self.tenant, AgentBeat(check_name(agent, "agent"), _status(status), self._clock()))

    def list(self) -> builtins.list[AgentInfo]:
        """Every agent of the tenant, most recently seen first, with ``alive`` computed now."""
        now = self._clock()
        return [
            AgentInfo(
                agent=r.agent,
                status=r.status,
                meta=r.meta,
                last_seen=from_epoch(r.last_seen),
                first_seen=from_epoch(r.first_seen),
                alive=now - r.last_seen <= self.ttl_s,
            )
            for r in self.registry.agents(self.tenant)
        ]

    @contextmanager
    def running(
        self, agent: str, status: str = "active", meta: Mapping[str, Any] | None = None
    ) -> Iterator[Callable[[str], None]]:
        """Register ``agent`` and beat every ``heartbeat_s`` in a background thread until the block ends.

        Yields:
            A function that sets the status the next beats carry.

        On exit the agent beats a last time with status ``"stopped"``.
        """
        self.register(agent, status, meta)
        current = [status]
        stop = threading.Event()

        def beat_loop() -> None:
            while not stop.wait(self.heartbeat_s):
                try:
                    self.heartbeat(agent, current[0])
                except HiveError as exc:  # a missed beat must not kill the agent; the next one retries
                    self.stats.add("hivemind.heartbeat_failed")
                    _log.warning("heartbeat of agent %s failed: %s", agent, exc)

        thread = threading.Thread(target=beat_loop, name=f"hive-heartbeat-{agent}", daemon=True)
        thread.start()

        def set_status(value: str) -> None:
            current[0] = _status(value)

        try:
            yield set_status
        finally:
            stop.set()
            thread.join(self.heartbeat_s + 5.0)
            self.heartbeat(agent, "stopped")

    # -- async twins ----------------------------------------------------------------------

    async def aregister(self, agent: str, status: str = "idle", meta: Mapping[str, Any] | None = None) -> None:
        """See :meth:`register`."""
        await asyncio.to_thread(self.register, agent, status, meta)

    async def aheartbeat(self, agent: str, status: str = "active") -> None:
        """See :meth:`heartbeat`."""
        await asyncio.to_thread(self.heartbeat, agent, status)

    async def alist(self) -> builtins.list[AgentInfo]:
        """See :meth:`list`."""
        return await asyncio.to_thread(self.list)
