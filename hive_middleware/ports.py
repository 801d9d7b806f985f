"""Ports: the small protocols the core talks to. Adapters implement them.

Each port has the fewest required methods that make its contract complete; the
contract lives in the docstrings. In-memory adapters live in
``hive_middleware.testing`` and every adapter passes the same conformance suite
(``hive_middleware.testing.conformance``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from hive_middleware.types import AgentState, Edge, EdgeKind, MemoryRecord, RouteDecision

if TYPE_CHECKING:
    from hive_middleware.memory.clock import HybridClock
    from hive_middleware.memory.writes import CommitResult, OutboxItem, Version, WriteOp

__all__ = [
    "ActionPolicy",
    "Embedder",
    "EventBus",
    "GraphStore",
    "TraverseDirection",
    "VectorHit",
    "VectorIndex",
]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size float vectors.

    Contract: ``embed(texts)`` returns one vector per text, in order, each of
    length ``dim``; the same text always gives the same vector; an empty list
    gives an empty list. Vectors are L2-normalised so a dot product is a cosine.
    ``name`` identifies the model (vectors from different names never mix).
    """

    @property
    def name(self) -> str:
        """Stable identifier of the model and its settings."""
        ...

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in one batch."""
        ...


VectorHit = tuple[str, float]
"""``(record_id, similarity)``; higher similarity is closer (cosine in [-1, 1])."""


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour index over record ids, partitioned by tenant.

    Contract: ``upsert`` replaces any vector already stored under an id of that
    tenant and is idempotent; ``query`` returns at most ``k`` hits of that tenant
    only, best first, and ``[]`` for a tenant with no vectors; ``delete_tenant``
    removes every vector of the tenant (a later ``query`` returns ``[]``). A
    tenant never sees another tenant's ids.
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


TraverseDirection = Literal["out", "in", "both"]


@runtime_checkable
class GraphStore(Protocol):
    """Durable, bi-temporal store of memory records, the edges between them and
    the embedding outbox. The source of truth of the memory engine.

    Contract:

    * ``commit`` applies its ops atomically and is durable when it returns. Each
      ``PutRecord`` gets a fresh HLC stamp from ``clock.tick(floor)``, where
      ``floor`` is the largest stamp the store has ever handed out (persisted, so
      stamps increase across processes). Key resolution (close the current
      version, link ``supersedes``) happens inside the transaction; a key never
      has two current versions in one namespace. A ``PutRecord`` with ``embed`` queues an outbox
      row in the same transaction. A failing op rolls the whole commit back.
    * Every read names a tenant and returns only that tenant's rows.
    * ``keyword_search`` ranks a tenant's records (current or not) by BM25,
      best first, with a positive score; it finds a record as soon as its
      commit returned.
    * ``authors`` lists the distinct ``metadata["author"]`` values of a
      tenant's records (who said or wrote them), current or not.
    * ``traverse`` follows edges (``out``: src to dst) up to ``depth`` hops and
      returns reachable ids with their hop count (start ids excluded).
    * The outbox is shared by every process on the store: ``claim_outbox`` leases
      rows for ``lease_s`` seconds, ``ack_outbox`` deletes them, rows whose lease
      expires are claimable again (so a crashed worker's rows resume).
    * ``change_stamp`` is a cheap value that differs after any commit by any
      process; in-process caches compare it to know when to drop entries.
    * ``erase_tenant`` really deletes every record, edge, keyword-index row,
      author row and outbox row of the tenant.
    """

    def commit(self, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        """Apply ``ops`` atomically and durably; see the class contract."""
        ...

    def get(self, tenant: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The records with these ids in ``tenant`` (missing ids are absent)."""
        ...

    def current(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        """The current (unexpired) version of ``key`` in exactly ``namespace``, or ``None``."""
        ...

    def versions(self, namespace: tuple[str, ...], key: str) -> list[Version]:
        """Every version of ``key`` in exactly ``namespace``, oldest first, with reasons."""
        ...

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """BM25-ranked ``(record_id, score)`` pairs, best first.

        The content and ``metadata["context"]`` are two fields; a context match
        weighs ``records.KEYWORD_CONTEXT_WEIGHT`` of a content match.
        """
        ...

    def authors(self, tenant: str) -> frozenset[str]:
        """The distinct ``metadata["author"]`` values of ``tenant``'s records."""
        ...

    def edges(self, tenant: str, record_id: str) -> list[Edge]:
        """Every edge whose source or destination is ``record_id``."""
        ...

    def traverse(
        self,
        tenant: str,
        start: Sequence[str],
        *,
        kinds: Sequence[EdgeKind] | None = None,
        depth: int = 1,
        direction: TraverseDirection = "both",
    ) -> dict[str, int]:
        """Ids reachable from ``start`` within ``depth`` hops -> smallest hop count."""
        ...

    def scan(self, tenant: str, *, since: int | None = None) -> Iterator[MemoryRecord]:
        """Every record of ``tenant`` (recorded after ``since`` if given), by stamp."""
        ...

    def tenants(self) -> list[str]:
        """Every tenant with at least one record."""
        ...

    def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxItem]:
        """Lease up to ``limit`` unclaimed outbox rows, oldest first."""
        ...

    def ack_outbox(self, items: Sequence[OutboxItem]) -> None:
        """Delete outbox rows whose vectors are stored."""
        ...

    def outbox_pending(self) -> int:
        """Number of outbox rows not yet acknowledged (claimed or not)."""
        ...

    def change_stamp(self) -> int:
        """A value that changes after every commit by any process."""
        ...

    def erase_tenant(self, tenant: str) -> None:
        """Really delete every record, edge, index row and outbox row of ``tenant``."""
        ...

    def close(self) -> None:
        """Release connections and files."""
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
