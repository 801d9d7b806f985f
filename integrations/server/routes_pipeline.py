"""Compress, expand and route over HTTP, plus the readiness probe.

Compression stores every original it replaces as an ``artifact`` memory of the
caller's tenant, so ``GET /v1/handles/{handle}`` expands a handle for that
tenant only (another tenant's handle is not found). Compressing writes, so it
needs ``write`` and is audited (``compress``, with the handles stored);
expanding and routing need ``read``. ``GET /readyz`` needs no key: it opens
the stack if needed and asks the store a question.
"""

import logging
from typing import Annotated, TypeAlias, cast

from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.error_model import error_responses
from hive_middleware.integrations.server.keys import Principal
from hive_middleware.integrations.server.pipeline_models import (
    CompressIn,
    CompressOut,
    ExpandOut,
    NotReadyOut,
    ReadyOut,
    RouteIn,
    RouteOut,
    agent_state,
    compress_out,
    route_out,
)

from hive_middleware.compression.artifacts import expand
from hive_middleware.compression.compressor import CompressionResult, compress
from hive_middleware.compression.memory_artifacts import MemoryArtifactStore
from hive_middleware.errors import HiveDependencyError, HiveNotFoundError
from hive_middleware.stack import HiveStack
from hive_middleware.types import Message

try:
    from fastapi import Depends, FastAPI, Path
    from fastapi.responses import JSONResponse
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["install", "tenant_artifacts"]

_log = logging.getLogger(__name__)


def tenant_artifacts(stack: HiveStack, tenant: str) -> MemoryArtifactStore:
    """Where compression originals of ``tenant`` live: artifact memories in namespace ``(tenant,)``."""
    return MemoryArtifactStore(stack.memory, namespace=(tenant,))


def install(app: FastAPI, ctx: ServerContext) -> None:
    """Add ``/v1/compress``, ``/v1/handles/{handle}``, ``/v1/route`` and ``/readyz``."""
    # The dependencies of ctx.reader / ctx.writer, spelt out so type checkers see a Principal.
    Reader: TypeAlias = Annotated[Principal, Depends(ctx.need("read"))]
    Writer: TypeAlias = Annotated[Principal, Depends(ctx.need("write"))]

    @app.post("/v1/compress", tags=["compression"], responses=error_responses(400, 401, 403, 422, 503))
    async def compress_messages(body: CompressIn, who: Writer) -> CompressOut:
        """Compress a message list reversibly; each replaced original is kept under its handle."""

        def run() -> CompressionResult:
            stack = ctx.stack()
            return compress(
                cast("list[Message]", body.messages),
                budget=body.budget,
                model=body.model,
                config=stack.config,
                artifacts=tenant_artifacts(stack, who.tenant),
            )

        result = await ctx.run(run)
        if result.handles:
            await ctx.run(lambda: ctx.audit.record(who, "compress", list(result.handles)))
        return compress_out(result)

    @app.get(
        "/v1/handles/{handle}", tags=["compression"], responses=error_responses(400, 401, 403, 404, 422, 503)
    )
    async def expand_handle(
        handle: Annotated[str, Path(description="A handle named in a compressed message (h-...).")],
        who: Reader,
    ) -> ExpandOut:
        """The original behind a compression handle of the caller's tenant, byte for byte."""
        try:
            content = await ctx.run(
                lambda: expand(handle, artifacts=tenant_artifacts(ctx.stack(), who.tenant))
            )
        except HiveNotFoundError as exc:
            raise HiveNotFoundError(
                f"no compressed original under handle {handle!r} in this tenant; handles come from "
                "POST /v1/compress with a key of the same tenant",
                key=handle,
            ) from exc
        return ExpandOut(handle=handle, content=content)

    @app.post("/v1/route", tags=["routing"], responses=error_responses(400, 401, 403, 422, 503))
    async def route(body: RouteIn, who: Reader) -> RouteOut:
        """Answer a mechanical step with an action, or escalate it to the LLM."""
        agent = body.agent or who.agent or "default"
        # The router learns habits per agent id; the tenant in it keeps two tenants' agents apart.
        state = agent_state(body, f"{who.tenant}/{agent}")
        decision = await ctx.run(lambda: ctx.stack().route(state))
        return route_out(decision)

    @app.get(
        "/readyz",
        tags=["probes"],
        response_model=ReadyOut,
        responses={
            503: {"model": NotReadyOut, "description": "The stack cannot open or its store does not answer."}
        },
    )
    async def readyz() -> ReadyOut | JSONResponse:
        """Readiness probe: 200 once the stack is open and its store answers, 503 otherwise."""
        try:
            pending = await ctx.run(lambda: ctx.stack().memory.graph.outbox_pending())
        except Exception as exc:
            # A probe answers "not ready" for any failure; the cause is logged and named in the body.
            _log.warning("readiness check failed: %s", exc, exc_info=True)
            body = NotReadyOut(status="unavailable", error=type(exc).__name__, message=str(exc))
            return JSONResponse(body.model_dump(), status_code=503)
        return ReadyOut(status="ready", index_pending=pending)
