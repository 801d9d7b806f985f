"""Ports: the small protocols the core talks to. Adapters implement them.

Each port has the fewest required methods that make its contract complete; the
contract lives in the docstrings. In-memory adapters live in
``hive_middleware.testing`` and every adapter passes the same conformance suite
(``hive_middleware.testing.conformance``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from hive_middleware.types import AgentState, Edge, MemoryRecord, RouteDecision

__all__ = ["ActionPolicy", "Embedder", "EventBus", "GraphStore", "VectorHit", "VectorIndex"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size float vectors.

    Contract: ``embed(texts)`` returns one vector per text, in order, each of
    length ``dim``; the same text always gives the same vector; an empty list
    gives an empty list. Vectors are L2-normalised so a dot product is a cosine.
    """

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in one batch."""
        ...


VectorHit = tuple[str, float]
"""``(record_id, similarity)``; higher similarity is closer."""


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour index over record ids, partitioned by tenant.

    Contract: ``upsert`` replaces any vector already stored under an id;
    ``query`` returns at most ``k`` hits of that tenant only, best first;
    ``delete_tenant`` removes every vector of the tenant. A tenant never sees
    another tenant's ids.
    """

    def upsert(self, tenant: str, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        """Insert or replace vectors."""
        ...

    def query(self, tenant: str, vector: Sequence[float], k: int) -> list[VectorHit]:
        """Return up to ``k`` ``(id, similarity)`` pairs of ``tenant``, best first."""
        ...

    def delete_tenant(self, tenant: str) -> None:
        """Delete every vector of ``tenant``."""
        ...


@runtime_checkable
class GraphStore(Protocol):
    """Durable store of memory records and the edges between them.

    Contract: ``write`` is atomic and durable when it returns (records, edges
    and the supersession updates together); ``get`` returns a record by id;
    ``keyword_search`` ranks a tenant's records by BM25; ``edges`` lists the
    edges touching an id; ``erase_tenant`` deletes every row of the tenant.
    """

    def write(self, records: Sequence[MemoryRecord], edges: Sequence[Edge] = ()) -> None:
        """Persist records and edges atomically."""
        ...

    def get(self, tenant: str, record_id: str) -> MemoryRecord | None:
        """The record with this id in ``tenant``, or ``None``."""
        ...

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """BM25-ranked ``(record_id, score)`` pairs, best first."""
        ...

    def edges(self, tenant: str, record_id: str) -> list[Edge]:
        """Every edge whose source or destination is ``record_id``."""
        ...

    def erase_tenant(self, tenant: str) -> None:
        """Really delete every record, edge and index row of ``tenant``."""
        ...


@runtime_checkable
class EventBus(Protocol):
    """Publish/subscribe channel for events between agents.

    Contract: ``publish`` delivers to every subscriber of the channel that was
    subscribed before the call; delivery order per channel is publish order.
    """

    async def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        """Send ``event`` to the channel's subscribers."""
        ...

    def subscribe(self, channel: str) -> AsyncIterator[Mapping[str, Any]]:
        """Iterate the channel's events from now on."""
        ...


@runtime_checkable
class ActionPolicy(Protocol):
    """Decides the next action for an agent state, or escalates.

    Contract: ``decide`` reads only the state (never the next action); it
    returns an action only when its calibrated confidence clears its threshold,
    else a decision with ``escalated=True`` and a reason.
    """

    def decide(self, state: AgentState) -> RouteDecision:
        """Route one state."""
        ...
