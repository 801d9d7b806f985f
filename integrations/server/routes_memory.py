"""Memory and graph routes of the Hive HTTP service.

Every call works in ``(tenant, agent?, thread?)`` with the tenant taken from
the key, so a key or record id of another tenant is simply not found (404).
Adding, superseding and forgetting need ``write`` and are audited (who, what,
which record ids); reads need ``read``. ``as_of`` is an ISO-8601 date-time
with a zone or epoch milliseconds; every time in a response is epoch
milliseconds.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, TypeAlias

from hive_middleware.integrations.server.context import ServerContext, namespace_for
from hive_middleware.integrations.server.error_model import error_responses
from hive_middleware.integrations.server.keys import Principal
from hive_middleware.integrations.server.memory_models import (
    ForgetOut,
    GraphOut,
    HistoryOut,
    MemoryIn,
    MemoryOut,
    SearchIn,
    SearchOut,
    SupersedeIn,
    WhyOut,
    memory_out,
    search_out,
    step_out,
    version_out,
)
from hive_middleware.integrations.server.wire_time import parse_instant

from hive_middleware.errors import HiveDependencyError, HiveNotFoundError, HiveTenantError
from hive_middleware.types import EdgeKind, MemoryRecord

try:
    from fastapi import Depends, FastAPI, Path, Query
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["install"]

MAX_GRAPH_DEPTH = 10
"""Most hops a graph traversal may walk."""

MAX_WHY_DEPTH = 32
"""Most hops a provenance chain may follow."""

Key: TypeAlias = Annotated[str, Path(description="A key of the namespace, or a record id of the tenant.")]
Agent: TypeAlias = Annotated[
    str | None, Query(description="Agent part of the namespace (tenant, agent, thread).")
]
Thread: TypeAlias = Annotated[
    str | None, Query(description="Thread part of the namespace (tenant, agent, thread).")
]
AsOf: TypeAlias = Annotated[
    str | None,
    Query(
        description="What was known and valid then: ISO-8601 date-time with a zone, or epoch milliseconds."
    ),
]

# Every memory route may answer these (400: an unreadable body or a usage error; 503: storage failed).
_ERRORS = error_responses(400, 401, 403, 404, 422, 503)


@contextmanager
def _links_not_found() -> Iterator[None]:
    """Report a ``cause`` id that is not a record of the tenant as not found (404).

    The store calls it a tenant error; over HTTP an id of another tenant must look
    exactly like an id that does not exist.
    """
    try:
        yield
    except HiveTenantError as exc:
        if "missing" not in exc.fields:
            raise
        raise HiveNotFoundError(
            f"cause: {exc.message}", field="cause", missing=exc.fields["missing"]
        ) from exc


def install(app: FastAPI, ctx: ServerContext) -> None:
    """Add the memory routes under ``/v1/memories`` and the graph route under ``/v1/graph``."""
    # The dependencies of ctx.reader / ctx.writer, spelt out so type checkers see a Principal.
    Reader: TypeAlias = Annotated[Principal, Depends(ctx.need("read"))]
    Writer: TypeAlias = Annotated[Principal, Depends(ctx.need("write"))]

    @app.post("/v1/memories", status_code=201, tags=["memories"], responses=_ERRORS)
    async def add_memory(body: MemoryIn, who: Writer) -> MemoryOut:
        """Add a memory (superseding the key's current version, if any); audited as ``memory.add``."""
        ns = namespace_for(who, body.agent, body.thread)
        valid_from = parse_instant(body.valid_from, "valid_from")

        def run() -> MemoryRecord:
            added = ctx.stack().memory.remember(
                body.content,
                key=body.key,
                kind=body.kind,
                metadata=body.metadata,
                tags=body.tags,
                caused_by=body.cause,
                valid_from=valid_from,
                namespace=ns,
            )
            ctx.audit.record(who, "memory.add", [added.id])
            return added

        with _links_not_found():
            record = await ctx.run(run)
        return memory_out(record)

    @app.post("/v1/memories/search", tags=["memories"], responses=_ERRORS)
    async def search(body: SearchIn, who: Reader) -> SearchOut:
        """Hybrid search over the caller's tenant (or one agent's / thread's namespace of it)."""
        ns = namespace_for(who, body.agent, body.thread)
        as_of = parse_instant(body.as_of, "as_of")
        hits = await ctx.run(
            lambda: ctx.stack().memory.search(
                body.query, k=body.k, as_of=as_of, kinds=body.kinds, tags=body.tags, namespace=ns
            ),
            heavy=True,
        )
        return search_out(hits)

    @app.get("/v1/memories/{key}", tags=["memories"], responses=_ERRORS)
    async def get_memory(
        key: Key, who: Reader, as_of: AsOf = None, agent: Agent = None, thread: Thread = None
    ) -> MemoryOut:
        """The current version of a key, or the version known and valid at ``as_of``.

        Without ``as_of`` a record id of the tenant is accepted too (that exact version).
        """
        ns = namespace_for(who, agent, thread)
        moment = parse_instant(as_of, "as_of")

        def read() -> MemoryRecord | None:
            memory = ctx.stack().memory
            found: MemoryRecord | None = memory.recall(key, as_of=moment, namespace=ns)
            if found is None and moment is None:
                by_id: dict[str, MemoryRecord] = memory.graph.get(who.tenant, [key])
                found = by_id.get(key)
            return found

        record = await ctx.run(read)
        if record is None:
            known = "now" if as_of is None else f"at as_of={as_of}"
            raise HiveNotFoundError(
                f"no memory {key!r} known {known} in namespace {list(ns)}; check the key, agent and thread",
                key=key,
            )
        return memory_out(record)

    @app.get("/v1/memories/{key}/history", tags=["memories"], responses=_ERRORS)
    async def history(key: Key, who: Reader, agent: Agent = None, thread: Thread = None) -> HistoryOut:
        """Every version of a key, oldest first, forgotten ones included."""
        ns = namespace_for(who, agent, thread)
        versions = await ctx.run(lambda: ctx.stack().memory.history(key, namespace=ns))
        if not versions:
            raise HiveNotFoundError(f"key {key!r} was never stored in namespace {list(ns)}", key=key)
        return HistoryOut(versions=[version_out(v) for v in versions])

    @app.get("/v1/memories/{key}/why", tags=["memories"], responses=_ERRORS)
    async def why(
        key: Key,
        who: Reader,
        agent: Agent = None,
        thread: Thread = None,
        depth: Annotated[int, Query(ge=1, le=MAX_WHY_DEPTH, description="Hops to follow.")] = 8,
    ) -> WhyOut:
        """The provenance of a key or record id: its caused_by / supersedes / derived_from chain."""
        ns = namespace_for(who, agent, thread)
        steps = await ctx.run(lambda: ctx.stack().memory.why(key, namespace=ns, depth=depth))
        return WhyOut(steps=[step_out(s) for s in steps])

    @app.post("/v1/memories/{key}/supersede", tags=["memories"], responses=_ERRORS)
    async def supersede(key: Key, body: SupersedeIn, who: Writer) -> MemoryOut:
        """Replace the current version of a key; audited as ``memory.supersede``."""
        ns = namespace_for(who, body.agent, body.thread)
        valid_from = parse_instant(body.valid_from, "valid_from")
        with _links_not_found():
            record = await ctx.run(
                lambda: ctx.stack().memory.supersede(
                    key,
                    body.content,
                    namespace=ns,
                    reason=body.reason,
                    metadata=body.metadata,
                    tags=body.tags,
                    caused_by=body.cause,
                    valid_from=valid_from,
                )
            )
        await ctx.run(lambda: ctx.audit.record(who, "memory.supersede", [record.id]))
        return memory_out(record)

    @app.delete("/v1/memories/{key}", tags=["memories"], responses=_ERRORS)
    async def forget(
        key: Key,
        who: Writer,
        reason: Annotated[str, Query(min_length=1, description="Why it is forgotten (kept in history).")],
        agent: Agent = None,
        thread: Thread = None,
    ) -> ForgetOut:
        """Stop believing the current version of a key (history keeps it); audited as ``memory.forget``."""
        ns = namespace_for(who, agent, thread)

        def run() -> str | None:
            memory = ctx.stack().memory
            current = memory.recall(key, namespace=ns)
            memory.forget(key, reason, namespace=ns)
            return None if current is None else current.id

        forgotten = await ctx.run(run)
        await ctx.run(lambda: ctx.audit.record(who, "memory.forget", [forgotten] if forgotten else []))
        return ForgetOut(forgotten=key, id=forgotten)

    @app.get("/v1/graph/{key}", tags=["graph"], responses=_ERRORS)
    async def graph(
        key: Key,
        who: Reader,
        kind: Annotated[
            EdgeKind | None, Query(description="Follow only this edge kind (default: all).")
        ] = None,
        depth: Annotated[int, Query(ge=1, le=MAX_GRAPH_DEPTH, description="Hops to walk.")] = 1,
        agent: Agent = None,
        thread: Thread = None,
    ) -> GraphOut:
        """Records linked to a key or record id within ``depth`` hops, nearest first."""
        ns = namespace_for(who, agent, thread)
        found = await ctx.run(lambda: ctx.stack().memory.neighbours(key, kind, depth, namespace=ns))
        return GraphOut(records=[memory_out(r) for r in found])
