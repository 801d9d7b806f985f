"""Channels (REST and WebSocket) and the agent registry over HTTP.

Every call works on the channels and agents of the key's tenant, so another
tenant's channels, events and agents are invisible (404 or absent from lists).
Creating a channel, publishing and registering an agent need ``write`` and are
audited; a heartbeat needs ``write`` but is not audited (it only says "alive",
every few seconds). Reads need ``read``. The WebSocket is served by
:mod:`~hive_middleware.integrations.server.channel_socket`.
"""

from typing import Annotated, TypeAlias

from hive_middleware.integrations.server.channel_socket import existing_channel, serve_channel_socket
from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.error_model import error_responses
from hive_middleware.integrations.server.hivemind_models import (
    AgentIn,
    AgentsOut,
    BeatOut,
    ChannelIn,
    ChannelOut,
    ChannelsOut,
    EventOut,
    FeedOut,
    HeartbeatIn,
    PublishIn,
    agent_out,
    channel_out,
    event_out,
)
from hive_middleware.integrations.server.keys import Principal

from hive_middleware.errors import HiveDependencyError
from hive_middleware.hivemind.channels import DEFAULT_FEED_LIMIT

try:
    from fastapi import Depends, FastAPI, WebSocket
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["install"]


def install(app: FastAPI, ctx: ServerContext) -> None:
    """Add the channel routes under ``/v1/channels`` and the agent routes under ``/v1/agents``."""
    # The dependencies of ctx.reader / ctx.writer, spelt out so type checkers see a Principal.
    Reader: TypeAlias = Annotated[Principal, Depends(ctx.need("read"))]
    Writer: TypeAlias = Annotated[Principal, Depends(ctx.need("write"))]

    @app.post(
        "/v1/channels", status_code=201, tags=["channels"], responses=error_responses(400, 401, 403, 422, 503)
    )
    async def create_channel(body: ChannelIn, who: Writer) -> ChannelOut:
        """Create a channel (idempotent; a non-empty description replaces the old one)."""
        info = await ctx.run(
            lambda: ctx.stack().channels.for_tenant(who.tenant).create(body.name, body.description)
        )
        await ctx.run(lambda: ctx.audit.record(who, "channel.create", [body.name]))
        return channel_out(info)

    @app.get("/v1/channels", tags=["channels"], responses=error_responses(401, 403, 503))
    async def list_channels(who: Reader) -> ChannelsOut:
        """Every channel of the caller's tenant, by name."""
        infos = await ctx.run(lambda: ctx.stack().channels.for_tenant(who.tenant).list())
        return ChannelsOut(channels=[channel_out(i) for i in infos])

    @app.post(
        "/v1/channels/{name}/publish",
        status_code=201,
        tags=["channels"],
        responses=error_responses(400, 401, 403, 404, 422, 503),
    )
    async def publish(name: str, body: PublishIn, who: Writer) -> EventOut:
        """Share a memory of the caller's tenant with the channel (creating the channel if needed).

        A record id of another tenant is not found (404).
        """

        def run() -> EventOut:
            stack = ctx.stack()
            event = stack.channels.for_tenant(who.tenant).publish(
                name,
                body.record_id,
                agent=body.agent or who.agent,
                event_id=body.event_id,
                metadata=body.metadata,
            )
            return event_out(event, stack.memory.graph.get(who.tenant, [body.record_id]))

        out = await ctx.run(run)
        await ctx.run(lambda: ctx.audit.record(who, "channel.publish", [body.record_id]))
        return out

    @app.get(
        "/v1/channels/{name}/feed", tags=["channels"], responses=error_responses(400, 401, 403, 404, 422, 503)
    )
    async def feed(
        name: str, who: Reader, after: str | None = None, limit: int = DEFAULT_FEED_LIMIT
    ) -> FeedOut:
        """Up to ``limit`` events after cursor ``after`` (absent: from the start), oldest first."""

        def run() -> FeedOut:
            events = existing_channel(ctx, who.tenant, name).feed(name, after=after, limit=limit)
            ids = [e.record_id for e in events if e.record_id is not None]
            records = ctx.stack().memory.graph.get(who.tenant, ids) if ids else {}
            return FeedOut(
                events=[event_out(e, records) for e in events],
                next=events[-1].cursor if events else after,
            )

        return await ctx.run(run)

    @app.websocket("/v1/channels/{name}/ws")
    async def channel_socket(
        websocket: WebSocket, name: str, after: str | None = None, key: str | None = None
    ) -> None:
        """Events of the channel after ``after``, then each new one as it is published."""
        await serve_channel_socket(ctx, websocket, name, after=after, key=key)

    @app.post(
        "/v1/agents", status_code=201, tags=["agents"], responses=error_responses(400, 401, 403, 422, 503)
    )
    async def register_agent(body: AgentIn, who: Writer) -> BeatOut:
        """Announce an agent with its status and meta."""
        await ctx.run(
            lambda: ctx.stack().agents.for_tenant(who.tenant).register(body.agent, body.status, body.meta)
        )
        await ctx.run(lambda: ctx.audit.record(who, "agent.register", [body.agent]))
        return BeatOut(agent=body.agent, status=body.status)

    @app.post(
        "/v1/agents/{agent}/heartbeat", tags=["agents"], responses=error_responses(400, 401, 403, 422, 503)
    )
    async def heartbeat(agent: str, who: Writer, body: HeartbeatIn | None = None) -> BeatOut:
        """Say the agent is alive, with its current status (its meta is kept)."""
        status = body.status if body is not None else HeartbeatIn().status
        await ctx.run(lambda: ctx.stack().agents.for_tenant(who.tenant).heartbeat(agent, status))
        return BeatOut(agent=agent, status=status)

    @app.get("/v1/agents", tags=["agents"], responses=error_responses(401, 403, 503))
    async def list_agents(who: Reader) -> AgentsOut:
        """Every agent of the caller's tenant, most recently seen first, with ``alive`` computed now."""
        infos = await ctx.run(lambda: ctx.stack().agents.for_tenant(who.tenant).list())
        return AgentsOut(agents=[agent_out(i) for i in infos])
