"""Ports of the hive mind's live layer: channel logs, the agent registry, the learning log, wake signals.

Every method names its tenant; a tenant never sees another tenant's channels,
events, agents or steps. Adapters: SQLite (:mod:`hive_middleware.hivemind.sqlite`,
the embedded default) and Redis (``hive_middleware.adapters.redis_hivemind``).
Each passes the conformance suites in ``hive_middleware.testing.conformance``
(``channel_log``, ``agent_registry``, ``learning_log``).

Back-end failures are raised as :class:`~hive_middleware.errors.HiveStorageError`;
one whose field ``unavailable`` is true means the server could not be reached (the
write may or may not have landed), which the local fallback
(:mod:`hive_middleware.hivemind.fallback`) turns into a queued, idempotent retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from hive_middleware.hivemind.model import (
    AgentBeat,
    AgentRecord,
    ChannelEvent,
    ChannelInfo,
    LearnedStep,
    LearningStep,
)

__all__ = ["AgentRegistry", "ChannelLog", "LearningLog", "WakeSignal"]


@runtime_checkable
class ChannelLog(Protocol):
    """Durable, ordered, per-tenant channels of events, with blocking reads for push delivery.

    Contract:

    * ``create`` declares a channel (idempotent: an existing channel keeps its
      creation time; a non-empty description replaces the old one). ``append``
      to an undeclared channel declares it with an empty description.
    * ``append`` is idempotent on ``(tenant, channel, event.event_id)``: the
      second append of an id stores nothing and returns the stored event. The
      returned event carries its cursor. Cursors of a channel increase in append
      order; they are opaque strings only the same back-end understands.
    * ``read`` returns up to ``limit`` events of the channel strictly after the
      cursor ``after`` (``None``: from the start), oldest first. With
      ``wait_s > 0`` and nothing to return yet, it blocks until an event is
      appended (by any process) or ``wait_s`` passes, then returns what it has.
    * ``last_cursor`` is the cursor of the channel's newest event (``None`` when
      it has none): a subscriber that starts "from now" reads after it.
    """

    def create(self, tenant: str, name: str, description: str, created_at: float) -> ChannelInfo:
        """Declare a channel; see the class contract."""
        ...

    def channels(self, tenant: str) -> list[ChannelInfo]:
        """Every channel of ``tenant``, by name."""
        ...

    def append(self, event: ChannelEvent) -> ChannelEvent:
        """Store ``event`` once (idempotent on its id); returns it with its cursor."""
        ...

    def read(
        self, tenant: str, channel: str, after: str | None, limit: int, wait_s: float = 0.0
    ) -> list[ChannelEvent]:
        """Events strictly after ``after``, oldest first; may block up to ``wait_s``."""
        ...

    def last_cursor(self, tenant: str, channel: str) -> str | None:
        """The cursor of the newest event, or ``None``."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class AgentRegistry(Protocol):
    """Which agents of a tenant exist, their status and when they were last seen.

    Contract: ``beat`` keeps, per ``(tenant, agent)``, the newest beat by
    ``seen_at`` (an older beat changes nothing, so replays are harmless); a beat
    with ``meta=None`` keeps the meta already stored (``{}`` if none);
    ``first_seen`` is the smallest ``seen_at`` ever beaten. ``agents`` lists the
    tenant's agents, most recently seen first.
    """

    def beat(self, tenant: str, beat: AgentBeat) -> None:
        """Record one beat; see the class contract."""
        ...

    def agents(self, tenant: str) -> list[AgentRecord]:
        """Every agent of ``tenant``, most recently seen first."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class LearningLog(Protocol):
    """The per-tenant, append-only stream of agent steps a router trains from.

    Contract: ``append`` is idempotent on ``(tenant, step.step_id)`` (the second
    append returns the stored step and its cursor); ``read`` returns up to
    ``limit`` steps strictly after ``after`` (``None``: from the start) in append
    order.
    """

    def append(self, tenant: str, step: LearningStep) -> LearnedStep:
        """Store ``step`` once; returns it with its cursor."""
        ...

    def read(self, tenant: str, after: str | None, limit: int) -> list[LearnedStep]:
        """Steps strictly after ``after``, oldest first."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class WakeSignal(Protocol):
    """A deployment-wide doorbell: "embedding work was queued" (no payload, may be lost).

    Contract: ``announce`` never raises and never blocks for long (a lost ring
    only delays a worker until its next poll); ``listen`` calls ``callback`` in a
    background thread for every ring from any process until the returned
    function is called.
    """

    def announce(self) -> None:
        """Ring the doorbell."""
        ...

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on every ring; returns the function that stops listening."""
        ...
