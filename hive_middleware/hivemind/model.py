"""The values the hive mind's live layer carries: channel events, agents, learning steps.

Every value is a frozen dataclass with a JSON body codec (``to_body``/``from_body``)
that every back-end stores as it is, so an event read from SQLite and one read from
Redis compare equal. Names (tenants, channels, agents) are checked here, before any
I/O, and refused with an error naming the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hive_middleware.errors import HiveTenantError, HiveValidationError

__all__ = [
    "MAX_NAME_CHARS",
    "AgentBeat",
    "AgentInfo",
    "AgentRecord",
    "ChannelEvent",
    "ChannelInfo",
    "LearnedStep",
    "LearningStep",
    "check_name",
    "check_tenant",
    "from_epoch",
    "to_epoch",
]

MAX_NAME_CHARS = 200
"""Longest tenant, channel or agent name."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_tenant(tenant: object) -> str:
    """Validate a tenant name.

    Raises:
        HiveTenantError: not a non-blank string of at most :data:`MAX_NAME_CHARS`
            characters without control characters.
    """
    if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > MAX_NAME_CHARS or _CONTROL.search(tenant):
        raise HiveTenantError(
            f"tenant must be a non-blank string of at most {MAX_NAME_CHARS} characters without control "
            f"characters, got {tenant!r}",
            tenant=tenant,
        )
    return tenant


def check_name(value: object, what: str) -> str:
    """Validate a channel, agent, thread or id name (``what`` names the field in the error).

    Raises:
        HiveValidationError: not a non-blank string of at most :data:`MAX_NAME_CHARS`
            characters without control characters.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS or _CONTROL.search(value):
        raise HiveValidationError(
            f"{what} must be a non-blank string of at most {MAX_NAME_CHARS} characters without control "
            f"characters, got {value!r}",
            field=what,
        )
    return value


def to_epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware datetime."""
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    """The aware UTC datetime of ``seconds`` since the epoch."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def _dumps(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel of a tenant: its name, what it is for and when it was created."""

    tenant: str
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """One event of a channel: a memory shared with every subscriber.

    Attributes:
        tenant: Owner of the channel.
        channel: Channel name.
        event_id: Idempotency id chosen by the publisher (default: the record id),
            so publishing the same record twice to a channel stores it once.
        record_id: The memory record shared (``None`` for a bare message).
        content: The record's content at publish time.
        agent: Who published it (``None`` if unnamed).
        published_at: When the publisher published it (aware, UTC).
        metadata: JSON-serialisable extra fields.
        cursor: Position in the channel, opaque and increasing in publish order;
            pass it as ``after=`` to read what follows. ``None`` while the event
            waits in the local queue for the shared back-end to come back.
    """

    tenant: str
    channel: str
    event_id: str
    record_id: str | None
    content: str
    agent: str | None
    published_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    cursor: str | None = None

    def to_body(self) -> str:
        """The JSON body back-ends store (everything but the cursor)."""
        return _dumps(
            {
                "tenant": self.tenant,
                "channel": self.channel,
                "event_id": self.event_id,
                "record_id": self.record_id,
                "content": self.content,
                "agent": self.agent,
                "published_at": to_epoch(self.published_at),
                "metadata": dict(self.metadata),
            }
        )

    @classmethod
    def from_body(cls, body: str | bytes, cursor: str | None) -> ChannelEvent:
        """Rebuild an event from :meth:`to_body` output and its cursor."""
        data = json.loads(body)
        return cls(
            tenant=data["tenant"],
            channel=data["channel"],
            event_id=data["event_id"],
            record_id=data["record_id"],
            content=data["content"],
            agent=data["agent"],
            published_at=from_epoch(data["published_at"]),
            metadata=data.get("metadata") or {},
            cursor=cursor,
        )


@dataclass(frozen=True, slots=True)
class AgentBeat:
    """One registry update: an agent says it is alive, with its status.

    ``meta=None`` keeps the meta already registered; ``seen_at`` is seconds since
    the epoch on the sender's clock. A back-end keeps the newest beat per agent
    (an older beat arriving late, e.g. from a replayed queue, changes nothing).
    """

    agent: str
    status: str
    seen_at: float
    meta: Mapping[str, Any] | None = None

    def to_body(self) -> str:
        """JSON form (for the local queue of a shared back-end)."""
        return _dumps({"agent": self.agent, "status": self.status, "seen_at": self.seen_at, "meta": self.meta})

    @classmethod
    def from_body(cls, body: str | bytes) -> AgentBeat:
        """Rebuild a beat from :meth:`to_body` output."""
        data = json.loads(body)
        return cls(agent=data["agent"], status=data["status"], seen_at=data["seen_at"], meta=data["meta"])


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """What a registry stores per agent: the newest beat, the meta and when it was first seen."""

    agent: str
    status: str
    meta: Mapping[str, Any]
    last_seen: float
    first_seen: float


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """An agent as :meth:`~hive_middleware.hivemind.Agents.list` shows it.

    ``alive`` is true when its last heartbeat is at most ``shared.agent_ttl_s`` old.
    """

    agent: str
    status: str
    meta: Mapping[str, Any]
    last_seen: datetime
    first_seen: datetime
    alive: bool


@dataclass(frozen=True, slots=True)
class LearningStep:
    """One step an agent took, for the router to learn from.

    Attributes:
        step_id: Idempotency id: appending the same id twice stores it once.
        agent: The agent that took the step.
        thread: The agent's thread (run, conversation).
        state: A summary of the agent state the step was taken in.
        predicted: The action the router predicted (``None``: it escalated).
        actual: The action the agent took.
        outcome: What came of it (``"ok"``, ``"error"``, a test result...).
        recorded_at: When the step was taken (aware, UTC).
        metadata: JSON-serialisable extra fields.
    """

    step_id: str
    agent: str
    thread: str
    state: str
    predicted: str | None
    actual: str
    outcome: str
    recorded_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_body(self) -> str:
        """The JSON body back-ends store."""
        return _dumps(
            {
                "step_id": self.step_id,
                "agent": self.agent,
                "thread": self.thread,
                "state": self.state,
                "predicted": self.predicted,
                "actual": self.actual,
                "outcome": self.outcome,
                "recorded_at": to_epoch(self.recorded_at),
                "metadata": dict(self.metadata),
            }
        )

    @classmethod
    def from_body(cls, body: str | bytes) -> LearningStep:
        """Rebuild a step from :meth:`to_body` output."""
        data = json.loads(body)
        return cls(
            step_id=data["step_id"],
            agent=data["agent"],
            thread=data["thread"],
            state=data["state"],
            predicted=data["predicted"],
            actual=data["actual"],
            outcome=data["outcome"],
            recorded_at=from_epoch(data["recorded_at"]),
            metadata=data.get("metadata") or {},
        )


@dataclass(frozen=True, slots=True)
class LearnedStep:
    """A stored learning step and its cursor in the tenant's learning stream.

    ``cursor`` is ``None`` while the step waits in the local queue for the shared
    back-end to come back.
    """

    step: LearningStep
    cursor: str | None
