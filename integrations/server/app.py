"""The Hive HTTP service (first slice): authenticated memory routes under ``/v1``.

Every request needs ``Authorization: Bearer KEY``; the key's tenant is the first
namespace element of every call, so no request can name another tenant. Errors
are the ``HiveError`` tree mapped to status codes with a body
``{"error", "message", "fields"}``.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from hive_middleware.integrations.server.keys import AuditLog, HiveAuthError, KeyStore, Principal

from hive_middleware.errors import (
    HiveCircuitOpen,
    HiveDependencyError,
    HiveError,
    HiveNotFoundError,
    HiveRateLimited,
    HiveStorageError,
    HiveTenantError,
    HiveUsageError,
    HiveValidationError,
)
from hive_middleware.stack import HiveStack

try:
    import anyio
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["create_app", "status_for"]

_STATUS: tuple[tuple[type[HiveError], int], ...] = (
    (HiveAuthError, 401),
    (HiveTenantError, 403),
    (HiveNotFoundError, 404),
    (HiveValidationError, 422),
    (HiveRateLimited, 429),
    (HiveCircuitOpen, 503),
    (HiveStorageError, 503),
    (HiveUsageError, 400),
)


def status_for(error: HiveError) -> int:
    """The HTTP status of a ``HiveError`` (500 for anything unmapped)."""
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return 500


class MemoryIn(BaseModel):
    """A memory to add; the namespace is ``(tenant, agent?, thread?)``."""

    content: str
    key: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    cause: list[str] = Field(default_factory=list)
    agent: str | None = None
    thread: str | None = None


class MemoryOut(BaseModel):
    """A stored memory."""

    id: str
    namespace: list[str]
    kind: str
    content: str
    key: str | None
    metadata: dict[str, Any]
    confidence: float
    recorded_at: int


class SearchIn(BaseModel):
    """A search over the caller's tenant."""

    query: str
    k: int = Field(10, ge=1, le=1000)
    tags: list[str] | None = None
    agent: str | None = None
    thread: str | None = None


def _out(record: Any) -> MemoryOut:
    return MemoryOut(
        id=record.id,
        namespace=list(record.namespace),
        kind=str(getattr(record.kind, "value", record.kind)),
        content=record.content,
        key=record.key,
        metadata=dict(record.metadata),
        confidence=record.confidence,
        recorded_at=record.recorded_at,
    )


def _namespace(principal: Principal, agent: str | None, thread: str | None) -> tuple[str, ...]:
    ns = [principal.tenant]
    if agent or thread:
        ns.append(agent or principal.agent or "_")
    if thread:
        ns.append(thread)
    return tuple(ns)


def create_app(stack_factory: Callable[[], HiveStack], *, keys: KeyStore, audit: AuditLog) -> FastAPI:
    """Build the FastAPI app over one stack.

    Args:
        stack_factory: Opens the stack (called once, at startup).
        keys: Where API keys are checked.
        audit: Where every write and forget is recorded.
    """
    state: dict[str, HiveStack] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        opened = state.pop("stack", None)
        if opened is not None:
            await anyio.to_thread.run_sync(opened.close)

    app = FastAPI(title="Hive", version="1", lifespan=lifespan)

    def stack() -> HiveStack:
        if "stack" not in state:
            state["stack"] = stack_factory()
        return state["stack"]

    @app.exception_handler(HiveError)
    async def _hive_error(_: Request, exc: HiveError) -> JSONResponse:
        code = status_for(exc)
        headers = {}
        if isinstance(exc, HiveRateLimited):
            headers["Retry-After"] = str(max(1, int(float(exc.fields.get("retry_after", 1)) + 0.999)))
        fields = {
            k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
            for k, v in exc.fields.items()
        }
        body = {"error": type(exc).__name__, "message": exc.message, "fields": fields}
        return JSONResponse(body, status_code=code, headers=headers)

    def need(scope: str) -> Callable[[Request], Principal]:
        def check(request: Request) -> Principal:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise HiveAuthError("missing API key: send 'Authorization: Bearer KEY'")
            principal = keys.authenticate(token.strip())
            if scope not in principal.scopes:
                raise HiveTenantError(f"this key lacks the {scope!r} scope", scope=scope)
            return principal

        return check

    Reader = Annotated[Principal, Depends(need("read"))]
    Writer = Annotated[Principal, Depends(need("write"))]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok"}

    @app.post("/v1/memories", status_code=201)
    async def add_memory(body: MemoryIn, who: Writer) -> MemoryOut:
        """Add a memory (superseding the key's current version, if any)."""
        ns = _namespace(who, body.agent, body.thread)
        record = await anyio.to_thread.run_sync(
            lambda: stack().memory.remember(
                body.content, key=body.key, metadata=body.metadata, caused_by=body.cause, namespace=ns
            )
        )
        await anyio.to_thread.run_sync(lambda: audit.record(who, "memory.add", [record.id]))
        return _out(record)

    @app.get("/v1/memories/{key}")
    async def get_memory(
        key: str, who: Reader, agent: str | None = None, thread: str | None = None
    ) -> MemoryOut:
        """The current version of a key (or a record id of the tenant)."""
        ns = _namespace(who, agent, thread)
        record = await anyio.to_thread.run_sync(lambda: stack().memory.recall(key, namespace=ns))
        if record is None:
            raise HiveNotFoundError(f"no current memory {key!r} in this tenant", key=key)
        return _out(record)

    @app.post("/v1/memories/search")
    async def search(body: SearchIn, who: Reader) -> list[MemoryOut]:
        """Hybrid search over the caller's tenant."""
        ns = _namespace(who, body.agent, body.thread)
        hits = await anyio.to_thread.run_sync(
            lambda: stack().memory.search(body.query, k=body.k, tags=body.tags, namespace=ns)
        )
        return [_out(h.record) for h in hits]

    return app
