"""Hive memory as an MCP server: the tools over streamable HTTP (``/mcp``) and stdio.

Over HTTP the tenant comes from the authenticated principal (``Authorization:
Bearer KEY``); no tool argument can name another tenant. Over stdio it is
``config.tenant`` of the stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Protocol

from pydantic import Field

from hive_middleware.errors import HiveDependencyError, HiveError
from hive_middleware.stack import HiveStack

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the MCP server needs the mcp SDK: install hive-middleware[server]") from exc


class PrincipalLike(Protocol):
    """Who calls: any object with ``tenant``, ``agent`` and ``scopes``."""

    tenant: str
    agent: str | None
    scopes: Any


def _bearer(request: Any) -> str | None:
    header = request.headers.get("authorization", "") if request is not None else ""
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


class AuditLike(Protocol):
    """Where writes are recorded: any object with ``record(principal, operation, ids)``."""

    def record(self, principal: Any, operation: str, ids: Any = ()) -> None: ...


def build_mcp(
    stack: HiveStack,
    *,
    principal_for: Callable[[Any], PrincipalLike] | None = None,
    audit: AuditLike | None = None,
) -> MCPServer:
    """The MCP server with Hive's memory, graph, channel and expand tools.

    Over HTTP every tool checks the key's scopes: reading tools need ``read``;
    ``memory_add``, ``memory_forget`` and ``channel_publish`` need ``write`` and
    are recorded in ``audit``.

    Args:
        stack: The stack whose memory and channels the tools use.
        principal_for: Maps the HTTP request of a tool call to its principal
            (raises a ``HiveError`` when the key is bad); ``None`` uses
            ``config.tenant`` of the stack (stdio, the local user's own process).
        audit: Where writes and forgets are recorded (who, what, which ids).

    Returns:
        The server; ``run_stdio_async()`` or :func:`mount_mcp` serves it.
    """
    server: MCPServer = MCPServer(
        name="hive", instructions="Hive causal memory, channels and compression handles."
    )
    default_tenant = stack.config.tenant

    def principal(ctx: Context, scope: str) -> PrincipalLike | None:
        if principal_for is None:
            return None
        request = ctx.request_context.request
        try:
            who = principal_for(request)
        except HiveError as exc:
            raise ToolError(str(exc)) from None
        if scope not in who.scopes:
            raise ToolError(f"HiveTenantError: this key lacks the {scope!r} scope")
        return who

    def tenant(ctx: Context, scope: str = "read") -> str:
        who = principal(ctx, scope)
        return default_tenant if who is None else str(who.tenant)

    def audited(ctx: Context, operation: str, ids: list[str]) -> None:
        who = principal(ctx, "write")
        if audit is not None and who is not None:
            audit.record(who, operation, ids)

    def guarded(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except HiveError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from None

    def record(r: Any) -> dict[str, Any]:
        return {
            "id": r.id,
            "key": r.key,
            "content": r.content,
            "kind": str(getattr(r.kind, "value", r.kind)),
            "metadata": dict(r.metadata or {}),
        }

    @server.tool()
    def memory_add(
        content: Annotated[str, Field(description="Text to remember.")],
        ctx: Context,
        key: Annotated[
            str | None, Field(description="Stable key; a new value supersedes the old one.")
        ] = None,
        caused_by: Annotated[
            list[str] | None, Field(description="Ids of records that caused this one.")
        ] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="JSON extra fields.")] = None,
    ) -> dict[str, Any]:
        """Store a memory in the caller's tenant; returns the durable record."""
        ns = (tenant(ctx, "write"),)
        added: dict[str, Any] = guarded(
            lambda: record(
                stack.memory.remember(
                    content, key=key, caused_by=caused_by or (), metadata=metadata, namespace=ns
                )
            )
        )
        audited(ctx, "memory.add", [added["id"]])
        return added

    @server.tool()
    def memory_search(
        query: Annotated[str, Field(description="Free text.")],
        ctx: Context,
        k: Annotated[int, Field(description="Results wanted.", ge=1, le=1000)] = 10,
    ) -> dict[str, Any]:
        """Hybrid search of the caller's memories."""
        ns = (tenant(ctx),)
        hits = guarded(lambda: stack.memory.search(query, k=k, namespace=ns))
        return {"results": [{"score": float(h.score), **record(h.record)} for h in hits]}

    @server.tool()
    def memory_recall(key: Annotated[str, Field(description="The key.")], ctx: Context) -> dict[str, Any]:
        """The current version of ``key`` (``record`` is null when there is none)."""
        ns = (tenant(ctx),)
        found = guarded(lambda: stack.memory.recall(key, namespace=ns))
        return {"record": record(found) if found is not None else None}

    @server.tool()
    def memory_forget(
        key: Annotated[str, Field(description="The key.")],
        reason: Annotated[str, Field(description="Why it is forgotten (kept in history).")],
        ctx: Context,
    ) -> dict[str, Any]:
        """Forget ``key`` (its history stays readable)."""
        ns = (tenant(ctx, "write"),)
        guarded(lambda: stack.memory.forget(key, reason, namespace=ns))
        audited(ctx, "memory.forget", [key])
        return {"forgotten": key}

    @server.tool()
    def memory_history(key: Annotated[str, Field(description="The key.")], ctx: Context) -> dict[str, Any]:
        """Every version of ``key``, oldest first."""
        ns = (tenant(ctx),)
        versions = guarded(lambda: stack.memory.history(key, namespace=ns))
        return {"versions": [_plain(v) for v in versions]}

    @server.tool()
    def graph_traverse(
        key: Annotated[str, Field(description="A key or record id.")],
        ctx: Context,
        kind: Annotated[str | None, Field(description="Edge kind to follow (default: all).")] = None,
        depth: Annotated[int, Field(description="Hops.", ge=1, le=10)] = 1,
    ) -> dict[str, Any]:
        """Records linked to ``key`` within ``depth`` hops, nearest first."""
        ns = (tenant(ctx),)
        found = guarded(lambda: stack.memory.neighbours(key, kind, depth, namespace=ns))
        return {"records": [record(r) for r in found]}

    @server.tool()
    def channel_publish(
        channel: Annotated[str, Field(description="Channel name.")],
        record_id: Annotated[str, Field(description="Id of a record of the caller's tenant.")],
        ctx: Context,
    ) -> dict[str, Any]:
        """Share a memory with the channel's subscribers."""
        t = tenant(ctx, "write")
        event: dict[str, Any] = guarded(
            lambda: _plain(stack.channels.for_tenant(t).publish(channel, record_id))
        )
        audited(ctx, "channel.publish", [record_id])
        return event

    @server.tool()
    def channel_feed(
        channel: Annotated[str, Field(description="Channel name.")],
        ctx: Context,
        after: Annotated[str | None, Field(description="Cursor: events after this id.")] = None,
        limit: Annotated[int, Field(description="Events wanted.", ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Events of the channel in order, after a cursor."""
        t = tenant(ctx)
        events = guarded(lambda: stack.channels.for_tenant(t).feed(channel, after=after, limit=limit))
        return {"events": [_plain(e) for e in events]}

    @server.tool()
    def hive_expand(
        handle: Annotated[str, Field(description="A compression handle.")], ctx: Context
    ) -> dict[str, Any]:
        """The original text behind a compression handle of the caller's tenant."""
        t = tenant(ctx)
        if t == default_tenant:
            return {"content": guarded(lambda: stack.expand(handle))}
        from hive_middleware.compression.artifacts import expand
        from hive_middleware.compression.memory_artifacts import MemoryArtifactStore

        scoped = MemoryArtifactStore(stack.memory, namespace=(t,))
        return {"content": guarded(lambda: expand(handle, artifacts=scoped))}

    return server


def _plain(value: Any) -> Any:
    """A JSON-friendly view of a dataclass / pydantic value."""
    import dataclasses
    import json

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump()
    return json.loads(json.dumps(value, default=str))


def mount_mcp(
    app: Any,
    stack: HiveStack,
    authenticate: Callable[[str], PrincipalLike] | None,
    *,
    audit: AuditLike | None = None,
) -> None:
    """Serve the MCP tools over streamable HTTP at ``/mcp`` inside a FastAPI app.

    Args:
        app: The FastAPI app.
        stack: The stack the tools use.
        authenticate: Maps a bearer key to its principal (raises ``HiveError``
            on a bad key); ``None`` serves ``config.tenant`` without keys.
        audit: Where writes and forgets are recorded.
    """
    from starlette.responses import JSONResponse

    def principal_for(request: Any) -> PrincipalLike:
        assert authenticate is not None
        key = _bearer(request)
        if key is None:
            raise HiveError("missing 'Authorization: Bearer KEY' header")
        return authenticate(key)

    server = build_mcp(stack, principal_for=principal_for if authenticate is not None else None, audit=audit)
    inner = server.streamable_http_app(streamable_http_path="/")

    async def guarded_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and authenticate is not None:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            scheme, _, key = headers.get("authorization", "").partition(" ")
            try:
                if scheme.lower() != "bearer" or not key.strip():
                    raise HiveError("missing 'Authorization: Bearer KEY' header")
                authenticate(key.strip())
            except HiveError as exc:
                await JSONResponse({"error": str(exc)}, status_code=401)(scope, receive, send)
                return
        await inner(scope, receive, send)

    app.mount("/mcp", guarded_app)
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), previous(a) as state:
            yield state

    app.router.lifespan_context = lifespan
