"""Push delivery of a channel over a WebSocket: ``/v1/channels/{name}/ws?after=CURSOR``.

The socket is accepted first and then authenticated, so that a browser sees why
it was refused: the close code is ``4000 + HTTP status`` of the error (4401 bad,
missing, revoked or expired key; 4403 key without the ``read`` scope; 4404 no
such channel in the key's tenant; 4422 bad name or cursor) with the error's
message as the reason. The key comes from ``Authorization: Bearer KEY`` or, for
browsers that cannot set headers, the ``key`` query parameter (which proxies
may log; prefer the header where possible).

Once accepted, every event after ``after`` (``after`` absent: from the start of
the channel) is sent in order as ``{"cursor", "event"}`` JSON, then every new one
as it is published, read through the channel's :class:`Subscription` on its own
thread. A client that reconnects with the last cursor it received misses
nothing and receives nothing twice. Messages from the client are ignored; when
it leaves, the subscription is closed and its reader thread has finished before
the handler returns (within :data:`SOCKET_WAIT_S`).
"""

import asyncio
import logging
from functools import partial
from typing import Any

from hive_middleware.integrations.server.app import status_for
from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.hivemind_models import event_out

from hive_middleware.errors import HiveDependencyError, HiveError, HiveNotFoundError
from hive_middleware.hivemind.channels import Channels
from hive_middleware.hivemind.model import ChannelEvent, check_name
from hive_middleware.hivemind.subscription import Subscription
from hive_middleware.types import MemoryRecord

try:
    import anyio
    from fastapi import WebSocket, WebSocketDisconnect
    from starlette.websockets import WebSocketState
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["CLOSE_REASON_BYTES", "SOCKET_WAIT_S", "close_code", "existing_channel", "serve_channel_socket"]

_log = logging.getLogger(__name__)

SOCKET_WAIT_S = 0.5
"""Longest single blocking read of a socket's subscription: bounds how long its thread outlives the client."""

CLOSE_REASON_BYTES = 123
"""A WebSocket close frame carries at most this many bytes of reason."""


def close_code(error: HiveError) -> int:
    """The WebSocket close code of ``error``: ``4000 +`` its HTTP status (4401, 4403, 4404, 4422...)."""
    status: int = status_for(error)
    return 4000 + status


def _reason(message: str) -> str:
    data = message.encode()
    if len(data) <= CLOSE_REASON_BYTES:
        return message
    return data[: CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


def existing_channel(ctx: ServerContext, tenant: str, name: str) -> Channels:
    """The channels of ``tenant``, after checking that channel ``name`` exists there (blocking).

    Raises:
        HiveValidationError: ``name`` is not a valid channel name.
        HiveNotFoundError: the tenant has no channel ``name``.
    """
    check_name(name, "channel")
    channels: Channels = ctx.stack().channels.for_tenant(tenant)
    if all(info.name != name for info in channels.list()):
        raise HiveNotFoundError(
            f"no channel {name!r} in this tenant; create it with POST /v1/channels or publish to it",
            channel=name,
        )
    return channels


def _credentials(websocket: WebSocket, key: str | None) -> dict[str, str]:
    header = websocket.headers.get("authorization")
    if header:
        return {"authorization": header}
    return {"authorization": f"Bearer {key}"} if key else {}


async def _close(websocket: WebSocket, error: HiveError) -> None:
    if websocket.application_state is WebSocketState.CONNECTED:
        try:
            await websocket.close(code=close_code(error), reason=_reason(error.message))
        except WebSocketDisconnect:
            _log.debug("client left before hearing why its socket closed: %s", error.message)


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _next_event(subscription: Subscription) -> ChannelEvent | None:
    try:
        return await anext(subscription)
    except StopAsyncIteration:
        return None


async def serve_channel_socket(
    ctx: ServerContext, websocket: WebSocket, name: str, *, after: str | None, key: str | None
) -> None:
    """Serve one channel socket until the client leaves (see the module docstring)."""
    await websocket.accept()
    try:
        who = await ctx.run(lambda: ctx.authenticate(_credentials(websocket, key), "read"))

        def open_subscription() -> Subscription:
            channels = existing_channel(ctx, who.tenant, name)
            channels.feed(name, after=after, limit=1)  # refuses a malformed cursor before streaming
            return Subscription(
                channels.log,
                who.tenant,
                name,
                after,
                wait_s=SOCKET_WAIT_S,
                retry_s=ctx.stack().config.shared.retry_s,
                stats=channels.stats,
            )

        subscription = await ctx.run(open_subscription)
    except HiveError as exc:
        await _close(websocket, exc)
        return
    await _stream(ctx, websocket, subscription, who.tenant)


async def _stream(ctx: ServerContext, websocket: WebSocket, subscription: Subscription, tenant: str) -> None:
    gone = asyncio.ensure_future(_until_disconnect(websocket))
    pending: asyncio.Future[ChannelEvent | None] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(_next_event(subscription))
            await asyncio.wait({pending, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                return
            event = pending.result()
            pending = None
            if event is None:
                return
            records = await ctx.run(partial(_records, ctx, tenant, event))
            await websocket.send_json(event_out(event, records).model_dump(mode="json"))
    except HiveError as exc:
        await _close(websocket, exc)
    except WebSocketDisconnect:
        pass  # the client left while an event was on its way; it resumes from its last cursor
    finally:
        subscription.close()
        gone.cancel()
        with anyio.CancelScope(shield=True):
            # Wait for the reader thread's last read, so no thread outlives the socket.
            await asyncio.wait({t for t in (pending, gone) if t is not None})
        _settle(pending)
        _settle(gone)


def _records(ctx: ServerContext, tenant: str, event: ChannelEvent) -> dict[str, MemoryRecord]:
    """The record ``event`` shares, by id (empty when it has none)."""
    if event.record_id is None:
        return {}
    found: dict[str, MemoryRecord] = ctx.stack().memory.graph.get(tenant, [event.record_id])
    return found


def _settle(task: "asyncio.Future[Any] | None") -> None:
    """Collect the outcome of a task whose result nobody needs once the socket is done."""
    if task is None or task.cancelled():
        return
    error = task.exception()
    if error is not None:
        _log.debug("channel socket task failed after the socket was done: %r", error)
