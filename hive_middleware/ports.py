"""Ports: the small protocols the core talks to. Adapters implement them.

Each port has the fewest required methods that make its contract complete; the
contract lives in the docstrings. In-memory adapters live in
``hive_middleware.testing`` and every adapter passes the same conformance suite
(``hive_middleware.testing.conformance``).

Ports that live beside the code using them are re-exported here so this module
lists every port: :class:`LimiterStore` and :class:`BreakerStore` (shared rate
limits and breaker state), :class:`ChannelLog`, :class:`AgentRegistry`,
:class:`LearningLog` and :class:`WakeSignal` (the hive mind's live layer).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from hive_middleware.hivemind.ports import AgentRegistry, ChannelLog, LearningLog, WakeSignal
from hive_middleware.resilience.breaker_store import BreakerStore
from hive_middleware.resilience.limiter_store import LimiterStore
from hive_middleware.types import AgentState, Edge, EdgeKind, MemoryRecord, RouteDecision

if TYPE_CHECKING:
    from hive_middleware.memory.clock import HybridClock
    from hive_middleware.memory.writes import CommitResult, OutboxItem, Version, WriteOp

__all__ = [
    "ActionPolicy",
    "AgentRegistry",
    "AuthorIndex",
    "BreakerStore",
    "ChannelLog",
    "EdgeGraph",
    "Embedder",
    "EmbeddingOutbox",
    "GraphStore",
    "KeywordSearch",
    "LearningLog",
    "LimiterStore",
    "RecordStore",
    "TraverseDirection",
    "VectorHit",
    "VectorIndex",
    "WakeSignal",
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
class RecordStore(Protocol):
    """Durable, bi-temporal store of memory records: the source of truth of the memory engine.

    The graph store is split by capability so a new back-end implements what it
    can and runs the conformance suites of what it implements; this is the part
    every graph store has. The other capabilities (:class:`KeywordSearch`,
    :class:`AuthorIndex`, :class:`EdgeGraph`, :class:`EmbeddingOutbox`) read
    state that ``commit`` maintains in the same transaction as the records.

    Contract:

    * ``commit`` applies its ops atomically and is durable when it returns. Each
      ``PutRecord`` gets a fresh HLC stamp from ``clock.tick(floor)``, where
      ``floor`` is the largest stamp the store has ever handed out (persisted, so
      stamps increase across processes). Key resolution (close the current
      version, link ``supersedes``) happens inside the transaction; a key never
      has two current versions in one namespace, even under concurrent commits
      from several processes. A failing op rolls the whole commit back: no
      record, edge, index row, author row or outbox row of it remains.
    * Every read names a tenant and returns only that tenant's rows.
    * ``change_stamp`` is a cheap value that differs after any commit by any
      process; in-process caches compare it to know when to drop entries.
    * ``erase_tenant`` really deletes every record of the tenant and everything
      derived from them (edges, keyword-index rows, author rows, outbox rows).
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

    def scan(self, tenant: str, *, since: int | None = None) -> Iterator[MemoryRecord]:
        """Every record of ``tenant`` (recorded after ``since`` if given), by stamp."""
        ...

    def tenants(self) -> list[str]:
        """Every tenant with at least one record."""
        ...

    def change_stamp(self) -> int:
        """A value that changes after every commit by any process."""
        ...

    def erase_tenant(self, tenant: str) -> None:
        """Really delete every record of ``tenant`` and everything derived from them."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class KeywordSearch(Protocol):
    """Keyword (BM25-style) ranking of a tenant's records.

    Contract: ``keyword_search`` ranks a tenant's records (current or not) by
    relevance to the words of ``query``, best first, with a positive score; a
    record matching any one of the query's words is a hit (more matching words,
    rarer words and shorter records rank higher). It finds a record as soon as
    the commit that stored it returned, and forgets it when its tenant is
    erased. Arbitrary user text is a valid query: operators and punctuation are
    plain text, and a query with no words gives ``[]``. The content and
    ``metadata["context"]`` are two fields; a context match weighs
    ``records.KEYWORD_CONTEXT_WEIGHT`` of a content match, and changing a
    record's metadata re-indexes its context.
    """

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` ranked ``(record_id, score)`` pairs of ``tenant``, best first."""
        ...


@runtime_checkable
class AuthorIndex(Protocol):
    """Who said or wrote a tenant's memories.

    Contract: ``authors`` lists the distinct string ``metadata["author"]`` values
    of a tenant's records (current or not, set when stored or by a later
    metadata change), for that tenant only; an erased tenant has none.
    """

    def authors(self, tenant: str) -> frozenset[str]:
        """The distinct ``metadata["author"]`` values of ``tenant``'s records."""
        ...


@runtime_checkable
class EdgeGraph(Protocol):
    """The edges between a tenant's records (causes, supersessions, links).

    Contract: a ``PutRecord``'s links, the ``supersedes`` edge of a supersession
    and ``AddEdges`` ops become edges in the commit's transaction; an edge joins
    two records of the same tenant (a link to another tenant's record raises
    ``HiveTenantError``). ``traverse`` follows edges (``out``: src to dst, ``in``:
    dst to src) up to ``depth`` hops and returns reachable ids with their
    smallest hop count (start ids excluded).
    """

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


@runtime_checkable
class EmbeddingOutbox(Protocol):
    """Records waiting for their embedding, shared by every process on the store.

    Contract: a ``PutRecord`` with ``embed`` (and a ``RestoreRecords`` with
    ``embed``) queues an outbox row in the commit's transaction. ``claim_outbox``
    leases unleased rows, oldest first, for ``lease_s`` seconds, so two workers
    (threads or processes) never hold the same row at once; each item carries
    :func:`~hive_middleware.memory.records.embedding_text` of its record and how
    many times it was claimed. ``ack_outbox`` deletes rows; a row whose lease
    expires is claimable again (so a crashed worker's rows resume).
    """

    def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxItem]:
        """Lease up to ``limit`` unclaimed outbox rows, oldest first."""
        ...

    def ack_outbox(self, items: Sequence[OutboxItem]) -> None:
        """Delete outbox rows whose vectors are stored."""
        ...

    def outbox_pending(self) -> int:
        """Number of outbox rows not yet acknowledged (claimed or not)."""
        ...


@runtime_checkable
class GraphStore(RecordStore, KeywordSearch, AuthorIndex, EdgeGraph, EmbeddingOutbox, Protocol):
    """Every graph-store capability together: what the memory engine needs.

    Records (:class:`RecordStore`), keyword search (:class:`KeywordSearch`),
    authors (:class:`AuthorIndex`), edges (:class:`EdgeGraph`) and the
    embedding outbox (:class:`EmbeddingOutbox`), each with its own contract,
    all written by one atomic ``commit``.
    """


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
