"""Write operations: what the memory store asks a graph store to commit atomically.

A :class:`~hive_middleware.ports.GraphStore` applies a sequence of these in one
transaction, stamping each with a fresh HLC timestamp. Resolving a key to its
current version happens inside that transaction, so concurrent writers in
several threads or processes never leave two current versions of one key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hive_middleware.types import Edge, EdgeKind, MemoryRecord

__all__ = [
    "AddEdges",
    "CommitResult",
    "Expire",
    "OutboxItem",
    "PutRecord",
    "RestoreRecords",
    "SetConfidence",
    "SetMetadata",
    "Version",
    "WriteOp",
    "stamped",
]


@dataclass(frozen=True, slots=True)
class PutRecord:
    """Store a new record version.

    Attributes:
        record: The record; its ``recorded_at`` is replaced by the commit's stamp.
        supersede: If the record has a key and the key has a current version in
            the record's namespace (keys are unique per namespace),
            close that version (``expired_at`` = stamp, ``valid_to`` = the new
            record's ``valid_from`` or the stamp's time) and link
            ``record --supersedes--> old``.
        require_current: Fail with ``HiveNotFoundError`` (and commit nothing)
            when the key has no current version.
        links: Outgoing edges ``record --kind--> target_id`` to add.
        reason: Why this version was written (kept for ``history``).
        embed: Queue an outbox row so the vector index learns the record.
    """

    record: MemoryRecord
    supersede: bool = True
    require_current: bool = False
    links: tuple[tuple[EdgeKind, str], ...] = ()
    reason: str | None = None
    embed: bool = True


@dataclass(frozen=True, slots=True)
class Expire:
    """Stop believing records: by key (its current version) and/or by ids.

    Nothing is deleted; ``expired_at`` is set to the commit's stamp.

    Attributes:
        namespace: Where the key lives (its first element is the tenant).
        reason: Why (kept for ``history``).
        key: Expire the current version of this key; ``HiveNotFoundError`` if none.
        record_ids: Expire these records of the tenant if still current (unknown ids are ignored).
    """

    namespace: tuple[str, ...]
    reason: str
    key: str | None = None
    record_ids: tuple[str, ...] = ()

    @property
    def tenant(self) -> str:
        """The tenant that owns the records."""
        return self.namespace[0]


@dataclass(frozen=True, slots=True)
class AddEdges:
    """Add edges ``src --kind--> dst`` between existing records of ``tenant``."""

    tenant: str
    edges: tuple[tuple[str, EdgeKind, str], ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetConfidence:
    """Set a record's confidence in place (confirmations, decay)."""

    tenant: str
    record_id: str
    confidence: float


@dataclass(frozen=True, slots=True)
class SetMetadata:
    """Replace a record's metadata in place (procedure usage counts, last use)."""

    tenant: str
    record_id: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RestoreRecords:
    """Insert records and edges exactly as given: ids, HLC stamps, expiry and validity kept.

    Used to restore a snapshot. The commit fails (nothing applied) with
    ``HiveValidationError`` when a record id already exists or a restored current
    key already has a current version. With ``embed`` every restored record is
    queued for its vector. The store's clock floor moves past the largest
    restored stamp, so later writes still sort after restored history.
    """

    records: tuple[MemoryRecord, ...]
    edges: tuple[Edge, ...] = ()
    embed: bool = True

    @property
    def max_stamp(self) -> int:
        """The largest HLC stamp in the restored records and edges (0 if none)."""
        stamps = [r.recorded_at for r in self.records] + [r.expired_at for r in self.records if r.expired_at]
        stamps += [e.recorded_at for e in self.edges]
        return max(stamps, default=0)


WriteOp = PutRecord | Expire | AddEdges | SetConfidence | SetMetadata | RestoreRecords


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a commit did.

    Attributes:
        records: The stored records, stamped, in the order of the ``PutRecord`` ops.
        expired: Ids whose ``expired_at`` was set by this commit.
        stamp: The largest HLC stamp of the commit.
    """

    records: tuple[MemoryRecord, ...]
    expired: tuple[str, ...]
    stamp: int


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a keyed memory with the reasons it was written and expired."""

    record: MemoryRecord
    reason: str | None
    expired_reason: str | None
    superseded_by: str | None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A record waiting to be embedded and upserted into the vector index."""

    seq: int
    tenant: str
    record_id: str
    content: str
    attempts: int


def stamped(record: MemoryRecord, stamp: int) -> MemoryRecord:
    """A copy of ``record`` recorded at ``stamp`` and not expired."""
    # Direct construction: dataclasses.replace costs several times more, and
    # batched writes stamp every record.
    return MemoryRecord(
        id=record.id,
        namespace=record.namespace,
        kind=record.kind,
        content=record.content,
        recorded_at=stamp,
        key=record.key,
        metadata=record.metadata,
        confidence=record.confidence,
        trust=record.trust,
        tags=record.tags,
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        expired_at=None,
    )
