"""Memory routes of the Hive HTTP service: add, get, search (and the rest of the memory API)."""

from typing import Any

from hive_middleware.integrations.server.context import ServerContext, namespace_for

from hive_middleware.errors import HiveNotFoundError

try:
    from fastapi import FastAPI
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the environment
    from hive_middleware.errors import HiveDependencyError

    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["MemoryIn", "MemoryOut", "SearchIn", "install"]


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



def install(app: FastAPI, ctx: ServerContext) -> None:
    """Add the memory routes under ``/v1/memories``."""
    Reader = ctx.reader
    Writer = ctx.writer

    @app.post("/v1/memories", status_code=201, tags=["memories"])
    async def add_memory(body: MemoryIn, who: Writer) -> MemoryOut:
        """Add a memory (superseding the key's current version, if any)."""
        ns = namespace_for(who, body.agent, body.thread)
        record = await ctx.run(
            lambda: ctx.stack().memory.remember(
                body.content, key=body.key, metadata=body.metadata, caused_by=body.cause, namespace=ns
            )
        )
        await ctx.run(lambda: ctx.audit.record(who, "memory.add", [record.id]))
        return _out(record)

    @app.get("/v1/memories/{key}", tags=["memories"])
    async def get_memory(key: str, who: Reader, agent: str | None = None, thread: str | None = None) -> MemoryOut:
        """The current version of a key (or a record id of the tenant)."""
        ns = namespace_for(who, agent, thread)
        record = await ctx.run(lambda: ctx.stack().memory.recall(key, namespace=ns))
        if record is None:
            raise HiveNotFoundError(f"no current memory {key!r} in this tenant", key=key)
        return _out(record)

    @app.post("/v1/memories/search", tags=["memories"])
    async def search(body: SearchIn, who: Reader) -> list[MemoryOut]:
        """Hybrid search over the caller's tenant."""
        ns = namespace_for(who, body.agent, body.thread)
        hits = await ctx.run(lambda: ctx.stack().memory.search(body.query, k=body.k, tags=body.tags, namespace=ns))
        return [_out(h.record) for h in hits]
