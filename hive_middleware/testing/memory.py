"""In-memory adapters for the memory ports, for tests and examples.

* :class:`InMemoryGraphStore`: the GraphStore contract in dicts, with a small
  BM25 (k1=1.2, b=0.75) over lower-cased words; one lock serialises commits.
* :class:`InMemoryVectorIndex`: exact cosine search per tenant.
* :class:`HashingEmbedder`: deterministic feature hashing of words and
  character trigrams, L2-normalised; texts sharing words are close. No model.

They pass the same conformance suites as the real adapters
(:mod:`hive_middleware.testing.conformance`). Nothing here is durable.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace

from hive_middleware.errors import HiveNotFoundError, HiveTenantError, HiveValidationError
from hive_middleware.memory.clock import HybridClock, hlc_to_datetime
from hive_middleware.memory.records import KEYWORD_CONTEXT_WEIGHT, context_text, embedding_text
from hive_middleware.memory.writes import (
    AddEdges,
    CommitResult,
    Expire,
    OutboxItem,
    PutRecord,
    RestoreRecords,
    SetConfidence,
    SetMetadata,
    Version,
    WriteOp,
    stamped,
)
from hive_middleware.ports import TraverseDirection, VectorHit
from hive_middleware.types import Edge, EdgeKind, MemoryRecord

__all__ = ["HashingEmbedder", "InMemoryGraphStore", "InMemoryVectorIndex"]

_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class InMemoryGraphStore:
    """A non-durable :class:`~hive_middleware.ports.GraphStore` in dicts."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, MemoryRecord] = {}
        self._order: list[str] = []
        self._reasons: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._edges: dict[tuple[str, str, EdgeKind, str], Edge] = {}
        self._terms: dict[str, Counter[str]] = {}
        self._outbox: dict[int, tuple[str, str, float, int]] = {}
        self._outbox_seq = 0
        self._hlc = 0
        self._change = 0

    def commit(self, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        """See :meth:`GraphStore.commit`."""
        with self._lock:
            # Work on copies so a failing op leaves nothing behind.
            snapshot = (
                dict(self._records),
                list(self._order),
                dict(self._reasons),
                dict(self._edges),
                dict(self._terms),
                dict(self._outbox),
                self._outbox_seq,
            )
            try:
                result = self._apply(ops, clock)
            except BaseException:
                (
                    self._records,
                    self._order,
                    self._reasons,
                    self._edges,
                    self._terms,
                    self._outbox,
                    self._outbox_seq,
                ) = snapshot
                raise
            self._hlc = result.stamp
            self._change += 1
        clock.observe(result.stamp)
        return result

    def _current_id(self, namespace: tuple[str, ...], key: str) -> str | None:
        for rid in reversed(self._order):
            r = self._records[rid]
            if r.key == key and r.namespace == namespace and r.expired_at is None:
                return rid
        return None

    def _require(self, tenant: str, ids: Sequence[str]) -> None:
        missing = sorted({i for i in ids if i not in self._records or self._records[i].tenant != tenant})
        if missing:
            raise HiveTenantError(
                f"linked record(s) {missing[:5]} do not exist in tenant {tenant!r}",
                tenant=tenant,
                missing=missing,
            )

    def _expire(self, rid: str, stamp: int, reason: str, **changes: object) -> None:
        self._records[rid] = replace(self._records[rid], expired_at=stamp, **changes)  # type: ignore[arg-type]
        created, _, superseded_by = self._reasons[rid]
        self._reasons[rid] = (created, reason, superseded_by)

    def _apply(self, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        stamp = self._hlc
        stored: list[MemoryRecord] = []
        expired: list[str] = []
        for op in ops:
            stamp = clock.tick(stamp)
            if isinstance(op, PutRecord):
                record = stamped(op.record, stamp)
                tenant = record.tenant
                self._require(tenant, [dst for _, dst in op.links])
                links = list(op.links)
                if record.key is not None:
                    old = self._current_id(record.namespace, record.key)
                    if old is None and op.require_current:
                        raise HiveNotFoundError(
                            f"key {record.key!r} has no current version", tenant=tenant, key=record.key
                        )
                    if old is not None:
                        if not op.supersede:
                            raise HiveValidationError(
                                f"key {record.key!r} already has a current version; use supersede()",
                                key=record.key,
                            )
                        closes = self._records[old].valid_to or record.valid_from or hlc_to_datetime(stamp)
                        self._expire(old, stamp, "superseded", valid_to=closes)
                        self._reasons[old] = (self._reasons[old][0], "superseded", record.id)
                        expired.append(old)
                        links.append((EdgeKind.SUPERSEDES, old))
                self._records[record.id] = record
                self._order.append(record.id)
                self._reasons[record.id] = (op.reason, None, None)
                self._terms[record.id] = Counter(_words(record.content))
                for kind, dst in links:
                    self._edges.setdefault(
                        (tenant, record.id, EdgeKind(kind), dst),
                        Edge(record.id, dst, EdgeKind(kind), stamp, {}),
                    )
                if op.embed:
                    self._outbox_seq += 1
                    self._outbox[self._outbox_seq] = (tenant, record.id, 0.0, 0)
                stored.append(record)
            elif isinstance(op, Expire):
                ids = list(op.record_ids)
                if op.key is not None:
                    found = self._current_id(op.namespace, op.key)
                    if found is None:
                        raise HiveNotFoundError(f"key {op.key!r} has no current version", key=op.key)
                    ids.append(found)
                for rid in ids:
                    rec = self._records.get(rid)
                    if rec is not None and rec.tenant == op.tenant and rec.expired_at is None:
                        self._expire(rid, stamp, op.reason)
                        expired.append(rid)
            elif isinstance(op, AddEdges):
                self._require(op.tenant, [x for src, _, dst in op.edges for x in (src, dst)])
                for src, kind, dst in op.edges:
                    self._edges.setdefault(
                        (op.tenant, src, EdgeKind(kind), dst),
                        Edge(src, dst, EdgeKind(kind), stamp, dict(op.metadata)),
                    )
            elif isinstance(op, SetConfidence):
                rec = self._records.get(op.record_id)
                if rec is None or rec.tenant != op.tenant:
                    raise HiveNotFoundError(
                        f"no record {op.record_id!r} in tenant {op.tenant!r}", key=op.record_id
                    )
                self._records[op.record_id] = replace(rec, confidence=op.confidence)
            elif isinstance(op, SetMetadata):
                rec = self._records.get(op.record_id)
                if rec is None or rec.tenant != op.tenant:
                    raise HiveNotFoundError(
                        f"no record {op.record_id!r} in tenant {op.tenant!r}", key=op.record_id
                    )
                self._records[op.record_id] = replace(rec, metadata=dict(op.metadata))
            elif isinstance(op, RestoreRecords):
                self._restore(op)
                stamp = max(stamp, op.max_stamp)
        return CommitResult(records=tuple(stored), expired=tuple(expired), stamp=stamp)

    def _restore(self, op: RestoreRecords) -> None:
        clash = [r.id for r in op.records if r.id in self._records]
        if clash:
            raise HiveValidationError(f"cannot restore: record ids {clash[:5]} already exist", ids=clash[:5])
        superseded_by = {e.dst: e.src for e in op.edges if e.kind is EdgeKind.SUPERSEDES}
        for record in sorted(op.records, key=lambda r: (r.recorded_at, r.id)):
            if (
                record.key is not None
                and record.expired_at is None
                and self._current_id(record.namespace, record.key) is not None
            ):
                raise HiveValidationError(
                    f"cannot restore: key {record.key!r} already has a current version", key=record.key
                )
            self._records[record.id] = record
            self._order.append(record.id)
            by = superseded_by.get(record.id) if record.expired_at is not None else None
            self._reasons[record.id] = (None, "superseded" if by else None, by)
            self._terms[record.id] = Counter(_words(record.content))
            if op.embed:
                self._outbox_seq += 1
                self._outbox[self._outbox_seq] = (record.tenant, record.id, 0.0, 0)
        for edge in op.edges:
            tenant = self._records[edge.src].tenant if edge.src in self._records else None
            if tenant is None:
                raise HiveValidationError(f"cannot restore edge from unknown record {edge.src!r}")
            self._require(tenant, [edge.dst])
            self._edges.setdefault((tenant, edge.src, edge.kind, edge.dst), edge)

    def get(self, tenant: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """See :meth:`GraphStore.get`."""
        with self._lock:
            return {
                i: self._records[i] for i in ids if i in self._records and self._records[i].tenant == tenant
            }

    def current(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        """See :meth:`GraphStore.current`."""
        with self._lock:
            rid = self._current_id(tuple(namespace), key)
            return None if rid is None else self._records[rid]

    def versions(self, namespace: tuple[str, ...], key: str) -> list[Version]:
        """See :meth:`GraphStore.versions`."""
        with self._lock:
            out = []
            for rid in self._order:
                r = self._records[rid]
                if r.key == key and r.namespace == tuple(namespace):
                    created, gone, by = self._reasons[rid]
                    out.append(Version(r, created, gone, by))
            return out

    def authors(self, tenant: str) -> frozenset[str]:
        """See :meth:`GraphStore.authors`."""
        with self._lock:
            found = (r.metadata.get("author") for r in self._records.values() if r.tenant == tenant)
            return frozenset(a for a in found if isinstance(a, str))

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """See :meth:`GraphStore.keyword_search` (plain BM25 per field, no stemming).

        The content and ``metadata["context"]`` are scored as two fields, the
        context's score weighted ``KEYWORD_CONTEXT_WEIGHT`` (as FTS5's bm25 with
        column weights does).
        """
        with self._lock:
            content = {rid: tf for rid, tf in self._terms.items() if self._records[rid].tenant == tenant}
            context = {rid: Counter(_words(context_text(self._records[rid].metadata))) for rid in content}
            terms = set(_words(query))
            if not content or not terms or k <= 0:
                return []
            # Rarity counts documents holding the term in any field, as FTS5 does.
            idf: dict[str, float] = {}
            for term in terms:
                df = sum(1 for rid in content if term in content[rid] or term in context[rid])
                if df:
                    idf[term] = math.log(1 + (len(content) - df + 0.5) / (df + 0.5))
            scores: dict[str, float] = {}
            for docs, weight in ((content, 1.0), (context, KEYWORD_CONTEXT_WEIGHT)):
                avg = max(sum(sum(tf.values()) for tf in docs.values()) / len(docs), 1e-9)
                for term, term_idf in idf.items():
                    for rid, tf in docs.items():
                        f = tf.get(term, 0)
                        if f:
                            length = sum(tf.values())
                            scores[rid] = scores.get(rid, 0.0) + weight * term_idf * f * 2.2 / (
                                f + 1.2 * (0.25 + 0.75 * length / avg)
                            )
            ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
            return ranked[:k]

    def edges(self, tenant: str, record_id: str) -> list[Edge]:
        """See :meth:`GraphStore.edges`."""
        with self._lock:
            return [
                e for (t, _, _, _), e in self._edges.items() if t == tenant and record_id in (e.src, e.dst)
            ]

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
        with self._lock:
            wanted = None if kinds is None else {EdgeKind(k) for k in kinds}
            edges = [
                e
                for (t, _, kind, _), e in self._edges.items()
                if t == tenant and (wanted is None or kind in wanted)
            ]
            reached: dict[str, int] = {}
            frontier = set(start)
            seen = set(start)
            for hop in range(1, depth + 1):
                following: set[str] = set()
                for e in edges:
                    if direction in ("out", "both") and e.src in frontier and e.dst not in seen:
                        following.add(e.dst)
                    if direction in ("in", "both") and e.dst in frontier and e.src not in seen:
                        following.add(e.src)
                for rid in following:
                    reached[rid] = hop
                seen |= following
                frontier = following
            return reached

    def scan(self, tenant: str, *, since: int | None = None) -> Iterator[MemoryRecord]:
        """See :meth:`GraphStore.scan`."""
        with self._lock:
            rows = [self._records[rid] for rid in self._order if self._records[rid].tenant == tenant]
        rows = [r for r in rows if since is None or r.recorded_at > since]
        return iter(sorted(rows, key=lambda r: r.recorded_at))

    def tenants(self) -> list[str]:
        """See :meth:`GraphStore.tenants`."""
        with self._lock:
            return sorted({r.tenant for r in self._records.values()})

    def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxItem]:
        """See :meth:`GraphStore.claim_outbox`."""
        now = time.time()
        out: list[OutboxItem] = []
        with self._lock:
            for seq in sorted(self._outbox):
                if len(out) >= limit:
                    break
                tenant, rid, until, attempts = self._outbox[seq]
                if until > now:
                    continue
                self._outbox[seq] = (tenant, rid, now + lease_s, attempts + 1)
                record = self._records[rid]
                out.append(
                    OutboxItem(
                        seq, tenant, rid, embedding_text(record.content, record.metadata), attempts + 1
                    )
                )
        return out

    def ack_outbox(self, items: Sequence[OutboxItem]) -> None:
        """See :meth:`GraphStore.ack_outbox`."""
        with self._lock:
            for item in items:
                self._outbox.pop(item.seq, None)

    def outbox_pending(self) -> int:
        """See :meth:`GraphStore.outbox_pending`."""
        with self._lock:
            return len(self._outbox)

    def change_stamp(self) -> int:
        """See :meth:`GraphStore.change_stamp`."""
        return self._change

    def erase_tenant(self, tenant: str) -> None:
        """See :meth:`GraphStore.erase_tenant`."""
        with self._lock:
            gone = {rid for rid, r in self._records.items() if r.tenant == tenant}
            for rid in gone:
                del self._records[rid]
                self._reasons.pop(rid, None)
                self._terms.pop(rid, None)
            self._order = [rid for rid in self._order if rid not in gone]
            self._edges = {key: e for key, e in self._edges.items() if key[0] != tenant}
            self._outbox = {s: row for s, row in self._outbox.items() if row[0] != tenant}
            self._change += 1

    def close(self) -> None:
        """Nothing to release."""


class InMemoryVectorIndex:
    """Exact cosine nearest neighbours per tenant (a :class:`~hive_middleware.ports.VectorIndex`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vectors: dict[str, dict[str, list[float]]] = {}

    def upsert(self, tenant: str, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        """See :meth:`VectorIndex.upsert`."""
        if len(ids) != len(vectors):
            raise HiveValidationError(f"{len(ids)} ids but {len(vectors)} vectors", field="vectors")
        with self._lock:
            space = self._vectors.setdefault(tenant, {})
            for rid, vec in zip(ids, vectors, strict=True):
                norm = math.sqrt(sum(x * x for x in vec)) or 1.0
                space[rid] = [x / norm for x in vec]

    def query(self, tenant: str, vector: Sequence[float], k: int) -> list[VectorHit]:
        """See :meth:`VectorIndex.query`."""
        with self._lock:
            space = dict(self._vectors.get(tenant, {}))
        if not space or k <= 0:
            return []
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        q = [x / norm for x in vector]
        scored = [(rid, sum(a * b for a, b in zip(q, vec, strict=True))) for rid, vec in space.items()]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:k]

    def delete_tenant(self, tenant: str) -> None:
        """See :meth:`VectorIndex.delete_tenant`."""
        with self._lock:
            self._vectors.pop(tenant, None)

    def close(self) -> None:
        """Nothing to release."""


class HashingEmbedder:
    """Deterministic embedder by feature hashing (an :class:`~hive_middleware.ports.Embedder`).

    Each lower-cased word and each character trigram of each word adds +/-1 to a
    bucket chosen by its blake2b hash; the vector is L2-normalised. Same text,
    same vector, in every process (no Python ``hash`` randomisation).

    Args:
        dim: Vector length.
    """

    def __init__(self, dim: int = 256) -> None:
        if dim <= 0:
            raise HiveValidationError(f"dim must be positive, got {dim}", field="dim")
        self._dim = dim
        self.calls = 0

    @property
    def name(self) -> str:
        """``hashing-<dim>``."""
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        """Vector length."""
        return self._dim

    def _features(self, text: str) -> Iterator[str]:
        for word in _words(text):
            yield "w:" + word
            padded = f"^{word}$"
            for i in range(len(padded) - 2):
                yield "t:" + padded[i : i + 3]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """See :meth:`Embedder.embed`."""
        self.calls += 1
        out = []
        for text in texts:
            vec = [0.0] * self._dim
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dim
                vec[bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = math.sqrt(sum(x * x for x in vec))
            if norm == 0:
                vec[0], norm = 1.0, 1.0
            out.append([x / norm for x in vec])
        return out
