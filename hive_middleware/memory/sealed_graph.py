"""SealedGraphStore: any GraphStore, with memory text sealed before it reaches the back-end.

The wrapper sits on the :class:`~hive_middleware.ports.GraphStore` port, so every
back-end (SQLite, PostgreSQL, in-memory) stores the same sealed form and runs
unchanged. What it writes for a record (``Sealer`` is :mod:`~hive_middleware.memory.sealing`):

* ``content``: the record's blind keyword tokens (sorted, repeats kept), so the
  back-end's own keyword index ranks by BM25 without holding a word;
* ``metadata``: ``{"author": ..., "context": <blind tokens of the context>,
  "_hive_sealed": <sealed JSON of the content and the whole metadata>}``; the
  seal is bound to the tenant and the record id;
* reasons (why a version was written or expired) sealed and bound to the tenant;
  edge metadata (which carries conflict reasons) sealed and bound to the edge.

Reads open all of it again, so callers see plaintext; a row without a seal
(written before sealing was turned on) is returned as stored. Keyword queries
are blinded the same way (the query's own words are sent too, so such older
rows are still found). The embedding outbox hands out the plaintext
:func:`~hive_middleware.memory.records.embedding_text`, opened in memory.

Left in the clear, because the back-end must read them: ids, namespaces, keys,
kinds, tags, times, confidence, ``metadata["author"]`` (the author index and
search's author signal) and which records share a word. The vector index only
ever receives ids and vectors; vectors are not sealed.

:func:`seal_graph` applies ``memory.encryption_key_env``: it wraps the store and
checks the key against a key-check record in the reserved tenant
:data:`KEY_CHECK_TENANT` (written on first use), and refuses to open a sealed
store without the key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import (
    HiveConfigError,
    HiveCorruptionError,
    HiveNotFoundError,
    HiveValidationError,
)
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.keyword_terms import keyword_terms, query_terms
from hive_middleware.memory.records import context_text, embedding_text, new_record_id
from hive_middleware.memory.sealing import Sealer, is_sealed
from hive_middleware.memory.writes import (
    AddEdges,
    CommitResult,
    Expire,
    OutboxItem,
    PutRecord,
    RestoreRecords,
    SetMetadata,
    Version,
    WriteOp,
    stamped,
)
from hive_middleware.ports import GraphStore, TraverseDirection
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

__all__ = ["KEY_CHECK_KEY", "KEY_CHECK_TENANT", "SEALED_METADATA_KEY", "SealedGraphStore", "seal_graph"]

SEALED_METADATA_KEY = "_hive_sealed"
"""The metadata field holding a record's seal (refused in metadata a caller passes)."""
KEY_CHECK_TENANT = "hive.sealing"
"""Reserved tenant of the key-check record (left out of :meth:`SealedGraphStore.tenants`)."""
KEY_CHECK_KEY = "key-check"
_KEY_CHECK_TEXT = "hive-middleware sealed memory key check"


class SealedGraphStore:
    """A :class:`~hive_middleware.ports.GraphStore` that seals memory text (see the module docstring).

    Args:
        inner: The back-end that stores the sealed rows.
        sealer: Seals, opens and blinds with the store's key.
    """

    def __init__(self, inner: GraphStore, sealer: Sealer) -> None:
        self.inner = inner
        self.sealer = sealer

    # -- sealing -----------------------------------------------------------------------------

    def _blind_text(self, tenant: str, text: str) -> str:
        return " ".join(sorted(self.sealer.blind(tenant, term) for term in keyword_terms(text)))

    def _seal_record(self, record: MemoryRecord) -> MemoryRecord:
        metadata = dict(record.metadata)
        if SEALED_METADATA_KEY in metadata:
            raise HiveValidationError(
                f"metadata[{SEALED_METADATA_KEY!r}] is reserved for sealed memory; rename that field",
                field=f"metadata.{SEALED_METADATA_KEY}",
            )
        return dataclasses.replace(
            record,
            content=self._blind_text(record.tenant, record.content),
            metadata=self._sealed_metadata(record.tenant, record.id, record.content, metadata),
        )

    def _sealed_metadata(
        self, tenant: str, record_id: str, content: str, metadata: Mapping[str, Any]
    ) -> dict[str, Any]:
        clear: dict[str, Any] = {}
        author = metadata.get("author")
        if isinstance(author, str):
            clear["author"] = author
        context = context_text(metadata)
        if context:
            clear["context"] = self._blind_text(tenant, context)
        payload = json.dumps({"content": content, "metadata": dict(metadata)}, ensure_ascii=False)
        clear[SEALED_METADATA_KEY] = self.sealer.seal(payload, ("record", tenant, record_id))
        return clear

    def _open_record(self, record: MemoryRecord) -> MemoryRecord:
        sealed = record.metadata.get(SEALED_METADATA_KEY)
        if sealed is None:
            return record
        payload = json.loads(self.sealer.unseal(sealed, ("record", record.tenant, record.id)))
        # Built directly: searches open dozens of records, and dataclasses.replace costs several times more.
        return MemoryRecord(
            id=record.id,
            namespace=record.namespace,
            kind=record.kind,
            content=payload["content"],
            recorded_at=record.recorded_at,
            key=record.key,
            metadata=payload["metadata"],
            confidence=record.confidence,
            trust=record.trust,
            tags=record.tags,
            valid_from=record.valid_from,
            valid_to=record.valid_to,
            expired_at=record.expired_at,
        )

    def _seal_reason(self, tenant: str, reason: str | None) -> str | None:
        return None if reason is None else self.sealer.seal(reason, ("reason", tenant))

    def _open_reason(self, tenant: str, reason: str | None) -> str | None:
        if reason is None or not is_sealed(reason):
            return reason
        return self.sealer.unseal(reason, ("reason", tenant))

    def _seal_edge_metadata(
        self, tenant: str, src: str, kind: EdgeKind, dst: str, metadata: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not metadata:
            return {}
        text = json.dumps(dict(metadata), ensure_ascii=False)
        sealed = self.sealer.seal(text, ("edge", tenant, src, kind.value, dst))
        return {SEALED_METADATA_KEY: sealed}

    def _open_edge(self, tenant: str, edge: Edge) -> Edge:
        sealed = edge.metadata.get(SEALED_METADATA_KEY)
        if sealed is None:
            return edge
        context = ("edge", tenant, edge.src, edge.kind.value, edge.dst)
        return dataclasses.replace(edge, metadata=json.loads(self.sealer.unseal(sealed, context)))

    def _seal_ops(self, ops: Sequence[WriteOp]) -> tuple[list[WriteOp], dict[str, MemoryRecord]]:
        sealed: list[WriteOp] = []
        plain: dict[str, MemoryRecord] = {}
        for op in ops:
            if isinstance(op, PutRecord):
                plain[op.record.id] = op.record
                reason = self._seal_reason(op.record.tenant, op.reason)
                sealed.append(dataclasses.replace(op, record=self._seal_record(op.record), reason=reason))
            elif isinstance(op, Expire):
                expire_reason = self.sealer.seal(op.reason, ("reason", op.tenant))
                sealed.append(dataclasses.replace(op, reason=expire_reason))
            elif isinstance(op, AddEdges) and op.metadata:
                # One op per edge: each edge's metadata is sealed to that edge.
                for src, kind, dst in op.edges:
                    metadata = self._seal_edge_metadata(op.tenant, src, EdgeKind(kind), dst, op.metadata)
                    sealed.append(AddEdges(op.tenant, ((src, kind, dst),), metadata))
            elif isinstance(op, SetMetadata):
                sealed.append(self._seal_set_metadata(op, plain))
            elif isinstance(op, RestoreRecords):
                sealed.append(self._seal_restore(op))
            else:
                sealed.append(op)
        return sealed, plain

    def _seal_set_metadata(self, op: SetMetadata, plain: Mapping[str, MemoryRecord]) -> SetMetadata:
        # The seal holds the content too: take it from this commit or from the stored record
        # (a version's content never changes, so reading it first is safe).
        record = plain.get(op.record_id) or self.get(op.tenant, [op.record_id]).get(op.record_id)
        if record is None or record.tenant != op.tenant:
            raise HiveNotFoundError(
                f"no record {op.record_id!r} in tenant {op.tenant!r}", tenant=op.tenant, key=op.record_id
            )
        if SEALED_METADATA_KEY in op.metadata:
            raise HiveValidationError(
                f"metadata[{SEALED_METADATA_KEY!r}] is reserved for sealed memory; rename that field",
                field=f"metadata.{SEALED_METADATA_KEY}",
            )
        metadata = self._sealed_metadata(op.tenant, op.record_id, record.content, op.metadata)
        return SetMetadata(op.tenant, op.record_id, metadata)

    def _seal_restore(self, op: RestoreRecords) -> RestoreRecords:
        tenant_of = {r.id: r.tenant for r in op.records}
        edges = []
        for edge in op.edges:
            tenant = tenant_of.get(edge.src) or tenant_of.get(edge.dst)
            if tenant is None:
                raise HiveValidationError(
                    f"cannot restore edge {edge.src} --{edge.kind.value}--> {edge.dst}: "
                    "neither end is restored",
                )
            metadata = self._seal_edge_metadata(tenant, edge.src, edge.kind, edge.dst, edge.metadata)
            edges.append(dataclasses.replace(edge, metadata=metadata))
        return RestoreRecords(tuple(self._seal_record(r) for r in op.records), tuple(edges), op.embed)

    # -- RecordStore -------------------------------------------------------------------------

    def commit(self, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        """See :meth:`GraphStore.commit`; returns the stored records in plaintext."""
        sealed, plain = self._seal_ops(ops)
        result = self.inner.commit(sealed, clock)
        records = tuple(stamped(plain[r.id], r.recorded_at) for r in result.records)
        return CommitResult(records=records, expired=result.expired, stamp=result.stamp)

    def get(self, tenant: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """See :meth:`GraphStore.get`."""
        return {rid: self._open_record(r) for rid, r in self.inner.get(tenant, ids).items()}

    def current(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        """See :meth:`GraphStore.current`."""
        record = self.inner.current(namespace, key)
        return None if record is None else self._open_record(record)

    def versions(self, namespace: tuple[str, ...], key: str) -> list[Version]:
        """See :meth:`GraphStore.versions`."""
        tenant = namespace[0]
        return [
            Version(
                self._open_record(v.record),
                self._open_reason(tenant, v.reason),
                self._open_reason(tenant, v.expired_reason),
                v.superseded_by,
            )
            for v in self.inner.versions(namespace, key)
        ]

    def scan(self, tenant: str, *, since: int | None = None) -> Iterator[MemoryRecord]:
        """See :meth:`GraphStore.scan`."""
        for record in self.inner.scan(tenant, since=since):
            yield self._open_record(record)

    def tenants(self) -> list[str]:
        """See :meth:`GraphStore.tenants` (the key-check tenant is left out)."""
        return [t for t in self.inner.tenants() if t != KEY_CHECK_TENANT]

    def change_stamp(self) -> int:
        """See :meth:`GraphStore.change_stamp`."""
        return self.inner.change_stamp()

    def erase_tenant(self, tenant: str) -> None:
        """See :meth:`GraphStore.erase_tenant`."""
        self.inner.erase_tenant(tenant)

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    # -- KeywordSearch, AuthorIndex ----------------------------------------------------------

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """See :meth:`GraphStore.keyword_search`: the query's terms are blinded as the index's are."""
        blinded = " ".join(self.sealer.blind(tenant, term) for term in query_terms(query))
        # The plain words too: they find only rows stored before sealing was turned on.
        return self.inner.keyword_search(tenant, f"{blinded} {query}", k)

    def authors(self, tenant: str) -> frozenset[str]:
        """See :meth:`GraphStore.authors` (authors are stored in the clear)."""
        return self.inner.authors(tenant)

    # -- EdgeGraph ---------------------------------------------------------------------------

    def edges(self, tenant: str, record_id: str) -> list[Edge]:
        """See :meth:`GraphStore.edges`."""
        return [self._open_edge(tenant, edge) for edge in self.inner.edges(tenant, record_id)]

    def traverse(
        self,
        tenant: str,
        start: Sequence[str],
        *,
        kinds: Sequence[EdgeKind] | None = None,
        depth: int = 1,
        direction: TraverseDirection = "both",
    ) -> dict[str, int]:
        """See :meth:`GraphStore.traverse`."""
        return self.inner.traverse(tenant, start, kinds=kinds, depth=depth, direction=direction)

    # -- EmbeddingOutbox ---------------------------------------------------------------------

    def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxItem]:
        """See :meth:`GraphStore.claim_outbox`: each item carries the plaintext embedding text,
        opened in memory. An item whose record was erased since the claim is left to expire."""
        items = self.inner.claim_outbox(limit, lease_s)
        by_tenant: dict[str, list[str]] = {}
        for item in items:
            by_tenant.setdefault(item.tenant, []).append(item.record_id)
        records: dict[tuple[str, str], MemoryRecord] = {}
        for tenant, ids in by_tenant.items():
            records.update(((tenant, rid), record) for rid, record in self.get(tenant, ids).items())
        opened = []
        for item in items:
            record = records.get((item.tenant, item.record_id))
            if record is not None:
                text = embedding_text(record.content, record.metadata)
                opened.append(dataclasses.replace(item, content=text))
        return opened

    def ack_outbox(self, items: Sequence[OutboxItem]) -> None:
        """See :meth:`GraphStore.ack_outbox`."""
        self.inner.ack_outbox(items)

    def outbox_pending(self) -> int:
        """See :meth:`GraphStore.outbox_pending`."""
        return self.inner.outbox_pending()

    # -- the key check -----------------------------------------------------------------------

    def check_key(self, where: str) -> None:
        """Prove the key opens this store: open the key-check record, writing it on first use.

        Args:
            where: The store's location, for the error message.

        Raises:
            HiveConfigError: the store was sealed with another key.
        """
        namespace = (KEY_CHECK_TENANT,)
        try:
            found = self.current(namespace, KEY_CHECK_KEY)
            if found is None:
                record = MemoryRecord(
                    id=new_record_id(),
                    namespace=namespace,
                    kind=MemoryKind.SEMANTIC,
                    content=_KEY_CHECK_TEXT,
                    recorded_at=0,
                    key=KEY_CHECK_KEY,
                )
                # Another process may write it first: then that one is checked.
                with contextlib.suppress(HiveValidationError):
                    self.commit([PutRecord(record, supersede=False, embed=False)], HybridClock())
                found = self.current(namespace, KEY_CHECK_KEY)
            if found is None or found.content != _KEY_CHECK_TEXT:
                raise HiveCorruptionError("the key-check record does not hold the expected text")
        except HiveCorruptionError as exc:
            raise HiveConfigError(
                f"the key in {self.sealer.source} does not open the sealed memory in {where}: it was sealed "
                f"with another key. Set {self.sealer.source} to the key it was sealed with",
                key="memory.encryption_key_env",
                variable=self.sealer.source,
            ) from exc


def seal_graph(
    graph: GraphStore, config: MemoryConfig, *, where: str, environ: Mapping[str, str] | None = None
) -> GraphStore:
    """Apply ``config.encryption_key_env`` to an opened graph store.

    Args:
        graph: The opened back-end.
        config: Memory settings.
        where: The store's location, for error messages.
        environ: Environment to read the key from (default ``os.environ``).

    Returns:
        ``graph`` itself when encryption is off, else a :class:`SealedGraphStore` over it
        whose key was checked.

    Raises:
        HiveConfigError: encryption is off but the store holds sealed memory; or the key
            variable is unset, malformed or holds another key than the store's.
    """
    name = config.encryption_key_env
    if name is None:
        if graph.current((KEY_CHECK_TENANT,), KEY_CHECK_KEY) is not None:
            raise HiveConfigError(
                f"the memory in {where} is sealed; set memory.encryption_key_env to the name of the "
                "environment variable holding its key "
                "(e.g. HIVE_MEMORY__ENCRYPTION_KEY_ENV=MEMORY_SEALING_KEY)",
                key="memory.encryption_key_env",
            )
        return graph
    sealed = SealedGraphStore(graph, Sealer.from_env(name, environ))
    sealed.check_key(where)
    return sealed
