"""Request and response bodies of the memory and graph routes, and how core values map to them.

Times in responses are epoch milliseconds (see
:mod:`~hive_middleware.integrations.server.wire_time`); ``recorded_at`` of one
answer sent back as ``as_of`` finds that very version.
"""

from typing import Any

from hive_middleware.integrations.server.wire_time import Instant, instant_ms, stamp_ms

from hive_middleware.errors import HiveDependencyError
from hive_middleware.memory.clock import hlc_physical_ms
from hive_middleware.memory.retrieval import SearchResult
from hive_middleware.memory.store import ProvenanceStep
from hive_middleware.memory.writes import Version
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

try:
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = [
    "EdgeOut",
    "ForgetOut",
    "GraphOut",
    "HistoryOut",
    "MemoryIn",
    "MemoryOut",
    "SearchHit",
    "SearchIn",
    "SearchOut",
    "StepOut",
    "SupersedeIn",
    "VersionOut",
    "WhyOut",
    "memory_out",
    "search_out",
    "step_out",
    "version_out",
]

MAX_K = 1000
"""Most results one search may ask for (the memory store's own limit)."""

_AGENT = "Agent part of the namespace (tenant, agent, thread); default: the tenant itself."
_THREAD = "Thread part of the namespace (tenant, agent, thread)."
_INSTANT = "ISO-8601 date-time with a time zone, or epoch milliseconds."


class MemoryIn(BaseModel):
    """A memory to add in ``(tenant, agent?, thread?)``; the tenant is the key's."""

    content: str = Field(min_length=1, description="The text to remember (not blank).")
    key: str | None = Field(None, description="Stable key; a key with a current version is superseded.")
    kind: MemoryKind = Field(MemoryKind.EPISODIC, description="Cognitive kind of the memory.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="JSON extra fields.")
    tags: list[str] = Field(default_factory=list, description="Labels a search can filter on.")
    cause: list[str] = Field(
        default_factory=list,
        description="Ids of records of the tenant that caused this one (caused_by edges).",
    )
    agent: str | None = Field(None, description=_AGENT)
    thread: str | None = Field(None, description=_THREAD)
    valid_from: Instant | None = Field(None, description=f"When it became true in the world: {_INSTANT}")


class SupersedeIn(BaseModel):
    """A new version of a key; unset fields are carried over from the current version."""

    content: str = Field(min_length=1, description="The new text (not blank).")
    reason: str | None = Field(None, description="Why the old version no longer holds (kept in history).")
    metadata: dict[str, Any] | None = Field(None, description="JSON extra fields (default: the old ones).")
    tags: list[str] | None = Field(None, description="Labels (default: the old ones).")
    cause: list[str] = Field(default_factory=list, description="Ids of records that caused the change.")
    agent: str | None = Field(None, description=_AGENT)
    thread: str | None = Field(None, description=_THREAD)
    valid_from: Instant | None = Field(None, description=f"When the new value became true: {_INSTANT}")


class SearchIn(BaseModel):
    """A hybrid search (vector + BM25 + graph + time) over the caller's tenant."""

    query: str = Field(min_length=1, description="Free text.")
    k: int = Field(10, ge=1, le=MAX_K, description="Results wanted.")
    tags: list[str] | None = Field(None, description="Keep only records carrying all these tags.")
    kinds: list[MemoryKind] | None = Field(None, description="Keep only these kinds.")
    agent: str | None = Field(None, description=f"Search only this agent's namespace. {_AGENT}")
    thread: str | None = Field(None, description=f"Search only this thread's namespace. {_THREAD}")
    as_of: Instant | None = Field(None, description=f"Search what was known and valid then: {_INSTANT}")


class MemoryOut(BaseModel):
    """One version of a stored memory."""

    id: str = Field(description="Record id (one per version).")
    namespace: list[str] = Field(description="(tenant, agent?, thread?) the record lives in.")
    kind: MemoryKind = Field(description="Cognitive kind.")
    content: str = Field(description="The remembered text.")
    key: str | None = Field(description="Stable key, if any.")
    metadata: dict[str, Any] = Field(description="JSON extra fields.")
    tags: list[str] = Field(description="Labels.")
    confidence: float = Field(description="Belief in [0, 1].")
    recorded_at: int = Field(description="When the store learned it, epoch milliseconds.")
    valid_from: int | None = Field(description="When it became true in the world, epoch milliseconds.")
    valid_to: int | None = Field(description="When it stopped being true in the world (null: still true).")
    invalidated_at: int | None = Field(
        description="When the store stopped believing it, epoch milliseconds (null: current belief)."
    )


class VersionOut(MemoryOut):
    """One version of a key, with why it was written and why it ended."""

    reason: str | None = Field(description="Why this version was written (a supersede reason).")
    expired_reason: str | None = Field(description="Why it stopped being believed (superseded, forgotten).")
    superseded_by: str | None = Field(description="Id of the version that replaced it.")


class HistoryOut(BaseModel):
    """Every version of a key, oldest first."""

    versions: list[VersionOut]


class EdgeOut(BaseModel):
    """A link ``src --kind--> dst`` between two records."""

    src: str = Field(description="Record id the edge starts at.")
    dst: str = Field(description="Record id the edge points to.")
    kind: EdgeKind = Field(description="What the link means.")
    recorded_at: int = Field(description="When it was recorded, epoch milliseconds.")
    metadata: dict[str, Any] = Field(description="JSON extra fields (agents of a confirmation...).")


class StepOut(BaseModel):
    """One step of a provenance chain: ``memory`` reached through ``edge`` after ``depth`` hops."""

    depth: int = Field(description="Hops from the asked record (1 = direct).")
    edge: EdgeOut
    memory: MemoryOut


class WhyOut(BaseModel):
    """The provenance of a record: caused_by / supersedes / derived_from chain, nearest first."""

    steps: list[StepOut]


class GraphOut(BaseModel):
    """Records linked to a key or id, nearest first."""

    records: list[MemoryOut]


class SearchHit(BaseModel):
    """One search result."""

    score: float = Field(description="Fused reciprocal-rank score (higher is better).")
    signals: list[str] = Field(description="Signals that found it (vector, bm25, graph, recency...).")
    memory: MemoryOut


class SearchOut(BaseModel):
    """Search results, best first."""

    results: list[SearchHit]


class ForgetOut(BaseModel):
    """What was forgotten (its history stays readable)."""

    forgotten: str = Field(description="The key whose current version is no longer believed.")
    id: str | None = Field(None, description="Id of the version that was current.")


def _fields(record: MemoryRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "namespace": list(record.namespace),
        "kind": record.kind,
        "content": record.content,
        "key": record.key,
        "metadata": dict(record.metadata),
        "tags": list(record.tags),
        "confidence": record.confidence,
        "recorded_at": stamp_ms(record.recorded_at),
        "valid_from": instant_ms(record.valid_from),
        "valid_to": instant_ms(record.valid_to),
        "invalidated_at": stamp_ms(record.expired_at),
    }


def memory_out(record: MemoryRecord) -> MemoryOut:
    """The response body of one record."""
    return MemoryOut(**_fields(record))


def version_out(version: Version) -> VersionOut:
    """The response body of one version of a key."""
    return VersionOut(
        **_fields(version.record),
        reason=version.reason,
        expired_reason=version.expired_reason,
        superseded_by=version.superseded_by,
    )


def _edge_out(edge: Edge) -> EdgeOut:
    return EdgeOut(
        src=edge.src,
        dst=edge.dst,
        kind=edge.kind,
        recorded_at=hlc_physical_ms(edge.recorded_at),
        metadata=dict(edge.metadata),
    )


def step_out(step: ProvenanceStep) -> StepOut:
    """The response body of one provenance step."""
    return StepOut(depth=step.depth, edge=_edge_out(step.edge), memory=memory_out(step.record))


def search_out(hits: list[SearchResult]) -> SearchOut:
    """The response body of a search."""
    return SearchOut(
        results=[
            SearchHit(score=float(h.score), signals=list(h.signals), memory=memory_out(h.record))
            for h in hits
        ]
    )
