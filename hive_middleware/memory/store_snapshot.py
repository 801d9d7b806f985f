"""MemoryStore methods that write and restore snapshot files.

The file format and its checks live in :mod:`~hive_middleware.memory.snapshot`.
A restore reads and verifies every block it needs before it writes anything,
then applies all records and edges in one transaction, so a damaged file or a
clash with existing records leaves the store exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from hive_middleware.memory.records import check_namespace
from hive_middleware.memory.snapshot import SnapshotSummary, read_all, write_snapshot
from hive_middleware.memory.writes import RestoreRecords, WriteOp
from hive_middleware.types import Edge, MemoryRecord

if TYPE_CHECKING:
    from hive_middleware.ports import GraphStore

__all__ = ["SnapshotMixin"]


class _Store(Protocol):
    graph: GraphStore
    _embed_queued: bool

    def _commit(self, ops: Sequence[WriteOp]) -> tuple[MemoryRecord, ...]: ...


def _tenant_edges(graph: GraphStore, tenant: str, records: Sequence[MemoryRecord]) -> list[Edge]:
    seen: dict[tuple[str, str, str], Edge] = {}
    for record in records:
        for edge in graph.edges(tenant, record.id):
            if edge.src == record.id:
                seen.setdefault((edge.src, edge.kind.value, edge.dst), edge)
    return list(seen.values())


class SnapshotMixin:
    """Snapshot and restore on :class:`~hive_middleware.memory.store.MemoryStore`."""

    def snapshot(self: _Store, path: str | os.PathLike[str], *, tenant: str | None = None) -> SnapshotSummary:
        """Write every record version and edge (of one tenant, or all) to one snapshot file.

        The file is written atomically; see :mod:`hive_middleware.memory.snapshot`
        for its layout and selective readers.

        Returns:
            The written file's summary (``bytes_read`` = bytes written).
        """
        tenants = [check_namespace((tenant,))[0]] if tenant is not None else self.graph.tenants()
        records: list[MemoryRecord] = []
        edges: list[Edge] = []
        for name in tenants:
            mine = list(self.graph.scan(name))
            records.extend(mine)
            edges.extend(_tenant_edges(self.graph, name, mine))
        return write_snapshot(path, records, edges)

    def restore(
        self: _Store,
        path: str | os.PathLike[str],
        *,
        tenant: str | None = None,
        namespaces: Sequence[Sequence[str]] | None = None,
    ) -> int:
        """Restore a snapshot (all of it, one tenant, or some namespaces); all or nothing.

        Records keep their ids, HLC stamps, validity and expiry, so ``as_of``
        and ``history`` answer as before. Vectors are rebuilt by the worker.
        Edges to records outside the restored selection are kept only when the
        other end already exists in the store.

        Returns:
            The number of records restored.

        Raises:
            HiveNotFoundError: no such file, or a requested namespace is not in it.
            HiveDataError: ``path`` is a directory or cannot be read.
            HiveCorruptionError: any needed part is damaged or truncated; nothing is written.
            HiveValidationError: a restored id already exists, or a restored key
                already has a current version (erase the tenant first); nothing is written.
        """
        content = read_all(path, tenant=tenant, namespaces=namespaces)
        if not content.records:
            return 0
        tenant_of = {r.id: r.tenant for r in content.records}
        outside = {e.dst for e in content.edges if e.dst not in tenant_of} | {
            e.src for e in content.edges if e.src not in tenant_of
        }
        existing: set[str] = set()
        for name in sorted(set(tenant_of.values())):
            existing |= set(self.graph.get(name, sorted(outside)))
        edges = tuple(
            e for e in content.edges
            if (e.src in tenant_of or e.src in existing) and (e.dst in tenant_of or e.dst in existing)
        )
        self._commit([RestoreRecords(content.records, edges, embed=self._embed_queued)])
        # Restored records carry old stamps, which an incremental reader would skip.
        self.__dict__.pop("_prospective_index", None)
        return len(content.records)
