"""Copy an embedded memory store to other back-ends: ``hive memory migrate``.

The source is the SQLite graph of a data directory; the target is any graph
store ``memory.graph`` can name (``sqlite:///dir``, ``postgres://...``) and,
optionally, a Chroma server for the vectors. Every record version is copied
exactly as it is (id, HLC ``recorded_at``/``expired_at``, ``valid_from``/
``valid_to``, key, metadata, confidence, trust, tags) with every edge
(supersede chains, causes, links), through the same
:class:`~hive_middleware.memory.writes.RestoreRecords` commit a snapshot
restore uses, so ``history``, ``why`` and ``as_of`` answer in the target as they
did in the source. Vectors are not copied: the target's outbox queues every
copied record (compression artifacts excepted, as on the write path) and the
migration embeds them into the target index itself.

Idempotent: a record whose id the target already holds is skipped (a changed
confidence or metadata is updated in place), so running it again copies
nothing, and a run that stopped half-way goes on where it stopped. A target
record that differs in anything else (its content, expiry or validity changed
in the source after it was copied), or a key that already has another current
version in the target, stops the migration before it writes anything, naming
the records.

Records are copied in batches in ``recorded_at`` order; each edge travels in
the batch that copies its later end. A verification pass then reads every
copied record and edge back from the target and compares them field by field.

Not carried: the free-text reasons ``history`` shows for why a version was
written or expired (the restore path keeps ``superseded`` and the
``superseded_by`` link, as a snapshot restore does).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hive_middleware.config import MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveNotFoundError, HiveStorageError, HiveValidationError
from hive_middleware.memory.backends import (
    GraphLocation,
    graph_location,
    make_embedder,
    open_graph,
    open_vectors,
    redact_url,
)
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.outbox import EmbeddingWorker
from hive_middleware.memory.records import check_namespace
from hive_middleware.memory.writes import AddEdges, RestoreRecords, SetConfidence, SetMetadata, WriteOp
from hive_middleware.ports import Embedder, GraphStore, VectorIndex
from hive_middleware.types import Edge, MemoryKind, MemoryRecord

__all__ = ["DEFAULT_MIGRATE_BATCH", "MigrationSummary", "TenantMigration", "migrate_memory"]

DEFAULT_MIGRATE_BATCH = 500
_READ_CHUNK = 500

Progress = Callable[[str, int, int], None]
EdgeKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class TenantMigration:
    """What the migration did for one tenant, and what the verification read back.

    Attributes:
        tenant: The tenant.
        records: Record versions in the source.
        edges: Edges in the source.
        copied_records: Versions written to the target by this run.
        copied_edges: Edges written to the target by this run.
        updated: Versions already in the target whose confidence or metadata were brought up to date.
        target_records: Record versions of the tenant in the target after the run.
        target_edges: Source edges found in the target after the run.
        verified: Every source version and edge is in the target, equal field by field.
    """

    tenant: str
    records: int
    edges: int
    copied_records: int
    copied_edges: int
    updated: int
    target_records: int
    target_edges: int
    verified: bool


@dataclass(frozen=True, slots=True)
class MigrationSummary:
    """The result of :func:`migrate_memory`.

    Attributes:
        source: The source data directory.
        target: The target graph location (password hidden).
        vectors: The target vector index (a URL, a directory, or ``None``).
        tenants: Per-tenant counts and verification.
        embedded: Records embedded into the target vector index by this run.
        pending_vectors: Outbox rows left in the target (``vectors`` is ``None``:
            the first process that opens the target with a vector index embeds them).
    """

    source: str
    target: str
    vectors: str | None
    tenants: tuple[TenantMigration, ...]
    embedded: int
    pending_vectors: int
    notes: tuple[str, ...] = field(default=())

    @property
    def records(self) -> int:
        """Source record versions, all tenants."""
        return sum(t.records for t in self.tenants)

    @property
    def edges(self) -> int:
        """Source edges, all tenants."""
        return sum(t.edges for t in self.tenants)

    @property
    def copied_records(self) -> int:
        """Versions written by this run, all tenants."""
        return sum(t.copied_records for t in self.tenants)

    @property
    def copied_edges(self) -> int:
        """Edges written by this run, all tenants."""
        return sum(t.copied_edges for t in self.tenants)

    @property
    def verified(self) -> bool:
        """Every tenant verified."""
        return all(t.verified for t in self.tenants)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _get_all(graph: GraphStore, tenant: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
    found: dict[str, MemoryRecord] = {}
    for chunk in _chunks(ids, _READ_CHUNK):
        found.update(graph.get(tenant, chunk))
    return found


def _out_edges(graph: GraphStore, tenant: str, ids: Sequence[str]) -> dict[EdgeKey, Edge]:
    """Edges whose source is one of ``ids`` (each edge once)."""
    wanted = set(ids)
    edges: dict[EdgeKey, Edge] = {}
    for record_id in ids:
        for edge in graph.edges(tenant, record_id):
            if edge.src == record_id and edge.src in wanted:
                edges.setdefault((edge.src, edge.kind.value, edge.dst), edge)
    return edges


def _only_mutable_fields_differ(source: MemoryRecord, target: MemoryRecord) -> bool:
    """Whether the two versions differ only in confidence and metadata (which the graph updates in place)."""
    return (
        source.namespace == target.namespace
        and source.kind == target.kind
        and source.content == target.content
        and source.recorded_at == target.recorded_at
        and source.key == target.key
        and source.trust == target.trust
        and tuple(source.tags) == tuple(target.tags)
        and source.valid_from == target.valid_from
        and source.valid_to == target.valid_to
        and source.expired_at == target.expired_at
    )


@dataclass
class _TenantPlan:
    tenant: str
    records: list[MemoryRecord]
    edges: dict[EdgeKey, Edge]
    missing: list[MemoryRecord]
    updates: list[WriteOp]
    late_edges: list[Edge]

    @property
    def updated(self) -> int:
        """Versions whose confidence or metadata this plan updates."""
        return len({op.record_id for op in self.updates if isinstance(op, SetConfidence | SetMetadata)})

    def batches(self, size: int) -> Iterator[list[WriteOp]]:
        """Commit groups: each batch of missing records with the edges whose later end it copies."""
        batch_of = {r.id: i // size for i, r in enumerate(self.missing)}
        artifacts = {r.id for r in self.missing if r.kind is MemoryKind.ARTIFACT}
        edges_of: dict[int, list[Edge]] = defaultdict(list)
        for edge in self.edges.values():
            at = max(batch_of.get(edge.src, -1), batch_of.get(edge.dst, -1))
            if at >= 0:
                edges_of[at].append(edge)
        for number, start in enumerate(range(0, len(self.missing), size)):
            chunk = self.missing[start : start + size]
            plain = tuple(r for r in chunk if r.id not in artifacts)
            kept = tuple(r for r in chunk if r.id in artifacts)
            plain_ids = {r.id for r in plain}
            with_plain = tuple(e for e in edges_of[number] if e.src in plain_ids or e.dst in plain_ids)
            with_artifacts = tuple(e for e in edges_of[number] if e.src not in plain_ids and e.dst not in plain_ids)
            ops: list[WriteOp] = []
            # Artifacts first: an edge from a plain record to an artifact of the same batch
            # needs the artifact in place. Artifacts get no vector (as on the write path).
            if kept:
                ops.append(RestoreRecords(kept, with_artifacts, embed=False))
            if plain:
                ops.append(RestoreRecords(plain, with_plain, embed=True))
            yield ops


def _plan_tenant(source: GraphStore, target: GraphStore, tenant: str, target_has_tenant: bool) -> _TenantPlan:
    records = list(source.scan(tenant))
    ids = [r.id for r in records]
    edges = _out_edges(source, tenant, ids)
    existing = _get_all(target, tenant, ids) if target_has_tenant else {}
    updates: list[WriteOp] = []
    conflicts: list[str] = []
    for record in records:
        there = existing.get(record.id)
        if there is None or there == record:
            continue
        if not _only_mutable_fields_differ(record, there):
            conflicts.append(record.id)
            continue
        if there.confidence != record.confidence:
            updates.append(SetConfidence(tenant, record.id, record.confidence))
        if dict(there.metadata) != dict(record.metadata):
            updates.append(SetMetadata(tenant, record.id, dict(record.metadata)))
    if conflicts:
        raise HiveValidationError(
            f"tenant {tenant!r}: records {conflicts[:5]} already exist in the target with other content, "
            "validity or expiry (they changed in the source after an earlier migration, or the target was "
            "written to); erase the tenant in the target and migrate again",
            tenant=tenant,
            ids=conflicts[:20],
        )
    missing = [r for r in records if r.id not in existing]
    if target_has_tenant:
        clashes = []
        for record in missing:
            if record.key is None or record.expired_at is not None:
                continue
            current = target.current(record.namespace, record.key)
            if current is not None and current.id != record.id:
                clashes.append(f"{record.key!r} in {record.namespace!r}")
        if clashes:
            raise HiveValidationError(
                f"tenant {tenant!r}: keys {clashes[:5]} already have another current version in the target "
                "(it was written to); erase the tenant in the target and migrate again",
                tenant=tenant,
            )
    # Edges between two records the target already had, missing there (linked in the
    # source after an earlier run): added with AddEdges, stamped at this run.
    late_edges: list[Edge] = []
    if existing:
        known = set(existing)
        have = _out_edges(target, tenant, [i for i in ids if i in known])
        late_edges = [e for k, e in edges.items() if e.src in known and e.dst in known and k not in have]
    return _TenantPlan(tenant, records, edges, missing, updates, late_edges)


def _late_edge_ops(tenant: str, edges: Sequence[Edge]) -> list[WriteOp]:
    by_metadata: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        by_metadata[json.dumps(dict(edge.metadata), sort_keys=True)].append(edge)
    return [
        AddEdges(tenant, tuple((e.src, e.kind, e.dst) for e in group), metadata=json.loads(meta))
        for meta, group in by_metadata.items()
    ]


def _verify(target: GraphStore, plan: _TenantPlan) -> tuple[int, int, bool]:
    ids = [r.id for r in plan.records]
    copied = _get_all(target, plan.tenant, ids)
    records_ok = len(copied) == len(ids) and all(copied[r.id] == r for r in plan.records)
    target_edges = _out_edges(target, plan.tenant, ids)
    found = [k for k in plan.edges if k in target_edges]
    edges_ok = len(found) == len(plan.edges) and all(
        dict(target_edges[k].metadata) == dict(plan.edges[k].metadata) for k in found
    )
    target_records = sum(1 for _ in target.scan(plan.tenant))
    return target_records, len(found), records_ok and edges_ok


@contextmanager
def _embedder_lock(path: Path | None) -> Iterator[None]:
    """Hold the embedded target index's single-writer lock for the migration."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise HiveStorageError(
                f"another process is embedding into the target's Chroma directory (it holds {path}); stop the "
                "processes using the target, or give --vectors a Chroma server",
                path=str(path),
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _target_location(to: str, source_dir: Path) -> GraphLocation:
    if to.strip() == "sqlite":
        raise HiveConfigError(
            "--to 'sqlite' is the source's own embedded store; name the target: 'sqlite:///abs/dir' or "
            "'postgres://user@host:port/db'",
            key="to",
        )
    location = graph_location(to, source_dir)
    if location.directory is not None and location.directory.resolve() == source_dir.resolve():
        raise HiveConfigError(
            f"--to {to!r} is the source directory itself; migrate to another directory or a database", key="to"
        )
    return location


def migrate_memory(
    source_dir: str | os.PathLike[str],
    *,
    to: str,
    vectors: str | None = None,
    tenants: Sequence[str] | None = None,
    config: MemoryConfig | None = None,
    embedder: Embedder | None = None,
    batch: int = DEFAULT_MIGRATE_BATCH,
    progress: Progress | None = None,
) -> MigrationSummary:
    """Copy the embedded store in ``source_dir`` to the graph ``to`` (and vectors to ``vectors``).

    Args:
        source_dir: The data directory holding ``graph.sqlite3``.
        to: Target graph: ``"sqlite:///abs/dir"`` or ``"postgres://..."``.
        vectors: Target Chroma server ``"http(s)://host:port"``; ``None``: for a
            SQLite target, the embedded Chroma directory beside it; for Postgres,
            no index now (the copied records stay queued in the target's outbox).
        tenants: Tenants to copy (default: every tenant of the source).
        config: Memory settings (the embedder, SQLite durability); default: defaults.
        embedder: Embed with this instead of ``config.embedder`` (its name must
            match what the target's processes will use).
        batch: Records per target transaction.
        progress: Called as ``progress(stage, done, total)``.

    Returns:
        Per-tenant counts, what was embedded, and the verification result.

    Raises:
        HiveNotFoundError: no store in ``source_dir``, or a requested tenant is not in it.
        HiveConfigError: ``to`` or ``vectors`` is malformed, or names the source.
        HiveDependencyError: the target's driver is not installed.
        HiveStorageError: a target cannot be reached or written.
        HiveValidationError: the target already holds different versions of the
            source's records; nothing is written for that tenant.
    """
    if batch <= 0:
        raise HiveValidationError(f"batch must be > 0, got {batch}", field="batch")
    source_path = Path(source_dir)
    if not (source_path / "graph.sqlite3").is_file():
        raise HiveNotFoundError(
            f"no embedded memory store in {source_path} (no graph.sqlite3); pass the data directory with --data-dir",
            path=str(source_path),
        )
    cfg = config or MemoryConfig()  # type: ignore[call-arg]
    location = _target_location(to, source_path)
    target_cfg = cfg.model_copy(
        update={"graph": to, "vectors": vectors, "chroma_url": None, "vector_index": "chroma"}
    )
    index_wanted = vectors is not None or location.kind == "sqlite"
    if vectors is not None:
        from hive_middleware.memory.backends import vectors_url

        vectors_url(target_cfg)  # refuse a malformed URL before anything is opened
    note = progress or (lambda stage, done, total: None)

    source = open_graph(GraphLocation("sqlite", directory=source_path), cfg)
    opened: list[GraphStore | VectorIndex] = [source]
    try:
        names = list(source.tenants())
        if tenants:
            wanted = [check_namespace((t,))[0] for t in tenants]
            absent = [t for t in wanted if t not in names]
            if absent:
                raise HiveNotFoundError(
                    f"tenants {absent} have no records in {source_path}; it holds {names}", tenants=absent
                )
            names = list(dict.fromkeys(wanted))
        index: VectorIndex | None = None
        lock: Path | None = None
        if index_wanted:
            # The vector index first: an unreachable server stops the run before the target is touched.
            if embedder is None:
                embedder = make_embedder(cfg)
            index, lock = open_vectors(
                target_cfg, embedder_name=str(embedder.name), directory=location.directory
            )
            if index is not None:
                opened.append(index)
        target = open_graph(location, target_cfg)
        opened.append(target)
        clock = HybridClock()
        results: list[TenantMigration] = []
        present = set(target.tenants())
        for tenant in names:
            plan = _plan_tenant(source, target, tenant, tenant in present)
            copied_edges = 0
            done = 0
            note(f"copy {tenant}", 0, len(plan.missing))
            for ops in plan.batches(batch):
                target.commit(ops, clock)
                for op in ops:
                    if isinstance(op, RestoreRecords):
                        done += len(op.records)
                        copied_edges += len(op.edges)
                note(f"copy {tenant}", done, len(plan.missing))
            tail = plan.updates + _late_edge_ops(tenant, plan.late_edges)
            if tail:
                target.commit(tail, clock)
                copied_edges += len(plan.late_edges)
            note(f"verify {tenant}", 0, 1)
            target_records, target_edges, ok = _verify(target, plan)
            note(f"verify {tenant}", 1, 1)
            results.append(
                TenantMigration(
                    tenant=tenant,
                    records=len(plan.records),
                    edges=len(plan.edges),
                    copied_records=len(plan.missing),
                    copied_edges=copied_edges,
                    updated=plan.updated,
                    target_records=target_records,
                    target_edges=target_edges,
                    verified=ok,
                )
            )
        embedded = 0
        if index is not None and embedder is not None:
            with _embedder_lock(lock):
                worker = EmbeddingWorker(target, index, embedder, batch=cfg.outbox_batch)
                total = target.outbox_pending()
                note("embed", 0, total)
                while (count := worker.run_once()) > 0:
                    embedded += count
                    note("embed", embedded, max(total, embedded))
        if index is None:
            where = None
        elif vectors is not None:
            where = vectors
        else:
            assert location.directory is not None
            where = str(location.directory / "chroma")
        notes: tuple[str, ...] = ()
        pending = target.outbox_pending()
        if index is None and pending:
            notes = (
                f"{pending} record(s) wait in the target's outbox for a vector index: open the target with "
                "memory.vectors set to a Chroma server and its worker embeds them",
            )
        return MigrationSummary(
            source=str(source_path),
            target=redact_url(location.url) if location.url is not None else f"sqlite://{location.directory}",
            vectors=where,
            tenants=tuple(results),
            embedded=embedded,
            pending_vectors=pending,
            notes=notes,
        )
    finally:
        for part in reversed(opened):
            closer = getattr(part, "close", None)
            if callable(closer):
                closer()
