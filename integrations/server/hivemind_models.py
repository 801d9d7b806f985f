"""Request and response bodies of the channel and agent routes, and how core values map to them.

Times are epoch milliseconds (see
:mod:`~hive_middleware.integrations.server.wire_time`). A channel event travels
as ``{"cursor", "event"}`` both in a feed page and on the WebSocket, with the
shared memory record inlined as the memory routes show it (``null`` when it is
gone).
"""

from collections.abc import Mapping
from typing import Any

from hive_middleware.integrations.server.memory_models import MemoryOut, memory_out
from hive_middleware.integrations.server.wire_time import instant_ms

from hive_middleware.errors import HiveDependencyError
from hive_middleware.hivemind.model import AgentInfo, ChannelEvent, ChannelInfo
from hive_middleware.types import MemoryRecord

try:
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = [
    "AgentIn",
    "AgentOut",
    "AgentsOut",
    "BeatOut",
    "ChannelIn",
    "ChannelOut",
    "ChannelsOut",
    "EventBody",
    "EventOut",
    "FeedOut",
    "HeartbeatIn",
    "PublishIn",
    "agent_out",
    "channel_out",
    "event_out",
]


class ChannelIn(BaseModel):
    """A channel to create (creating an existing one only replaces a non-empty description)."""

    name: str = Field(description="Channel name, unique in the tenant.")
    description: str = Field("", description="What the channel is for.")


class ChannelOut(BaseModel):
    """A channel of the caller's tenant."""

    name: str = Field(description="Channel name.")
    description: str = Field(description="What the channel is for.")
    created_at: int = Field(description="When it was created, epoch milliseconds.")


class ChannelsOut(BaseModel):
    """Every channel of the caller's tenant, by name."""

    channels: list[ChannelOut]


class PublishIn(BaseModel):
    """A memory of the caller's tenant to share with a channel's subscribers."""

    record_id: str = Field(description="Id of a memory record of the caller's tenant.")
    agent: str | None = Field(
        None, description="Who publishes (default: the key's agent, else the record's author)."
    )
    event_id: str | None = Field(
        None, description="Idempotency id (default: the record id, so a record is stored once per channel)."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="JSON extra fields of the event.")


class EventBody(BaseModel):
    """One published event."""

    channel: str
    event_id: str = Field(description="Idempotency id of the event.")
    record_id: str | None = Field(description="The shared record's id.")
    content: str = Field(description="The record's content when it was published.")
    agent: str | None = Field(description="Who published it.")
    published_at: int = Field(description="When it was published, epoch milliseconds.")
    metadata: dict[str, Any]
    record: MemoryOut | None = Field(description="The shared record (null when it no longer exists).")


class EventOut(BaseModel):
    """An event and its cursor (pass the cursor as ``after`` to read what follows)."""

    cursor: str | None = Field(
        description="Position in the channel; null while queued for the shared back-end."
    )
    event: EventBody


class FeedOut(BaseModel):
    """A page of a channel's events, oldest first."""

    events: list[EventOut]
    next: str | None = Field(description="Cursor to pass as ``after`` for the next page (the last one read).")


class AgentIn(BaseModel):
    """An agent announcing itself."""

    agent: str = Field(description="Agent name, unique in the tenant.")
    status: str = Field("idle", description="What it is doing (at most 200 characters).")
    meta: dict[str, Any] = Field(
        default_factory=dict, description="JSON facts about the agent (host, model...)."
    )


class HeartbeatIn(BaseModel):
    """A heartbeat: the agent is alive (its meta is kept)."""

    status: str = Field("active", description="What it is doing now (at most 200 characters).")


class BeatOut(BaseModel):
    """What a registration or heartbeat stored (``GET /v1/agents`` shows times and liveness)."""

    agent: str
    status: str


class AgentOut(BaseModel):
    """An agent of the caller's tenant."""

    agent: str
    status: str
    meta: dict[str, Any]
    last_seen: int = Field(description="Last heartbeat, epoch milliseconds.")
    first_seen: int = Field(description="First heartbeat, epoch milliseconds.")
    alive: bool = Field(description="Whether the last heartbeat is recent enough (shared.agent_ttl_s).")


class AgentsOut(BaseModel):
    """Every agent of the caller's tenant, most recently seen first."""

    agents: list[AgentOut]


def channel_out(info: ChannelInfo) -> ChannelOut:
    """The response body of a channel."""
    return ChannelOut(
        name=info.name, description=info.description, created_at=instant_ms(info.created_at) or 0
    )


def event_out(event: ChannelEvent, records: Mapping[str, MemoryRecord]) -> EventOut:
    """The wire form of ``event``, with its record taken from ``records`` (by id) when there."""
    record = records.get(event.record_id) if event.record_id is not None else None
    return EventOut(
        cursor=event.cursor,
        event=EventBody(
            channel=event.channel,
            event_id=event.event_id,
            record_id=event.record_id,
            content=event.content,
            agent=event.agent,
            published_at=instant_ms(event.published_at) or 0,
            metadata=dict(event.metadata),
            record=None if record is None else memory_out(record),
        ),
    )


def agent_out(info: AgentInfo) -> AgentOut:
    """The response body of an agent."""
    return AgentOut(
        agent=info.agent,
        status=info.status,
        meta=dict(info.meta),
        last_seen=instant_ms(info.last_seen) or 0,
        first_seen=instant_ms(info.first_seen) or 0,
        alive=info.alive,
    )
