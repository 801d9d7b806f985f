"""MemoryStore: causal, bi-temporal memory over a GraphStore, a VectorIndex and an Embedder.

Write path: every write validates its input, turns it into
:mod:`~hive_middleware.memory.writes` ops and commits them in one graph-store
transaction (record + supersession + edges + outbox row), then returns. The
vector arrives later through the :class:`~hive_middleware.memory.outbox.EmbeddingWorker`;
keyword search finds the record at once.

Time: each version carries ``recorded_at``/``expired_at`` (HLC stamps: when the
store learned it / stopped believing it) and ``valid_from``/``valid_to`` (world
time). Nothing is deleted except by :meth:`MemoryStore.erase_tenant`: ``supersede``
closes the old version and links ``new --supersedes--> old``; ``forget`` only
expires. ``as_of`` answers "what did we know then": an aware datetime means
recorded by then, not expired by then and valid then; an HLC stamp (int) means
what the store believed right after that stamp (transaction time only).

Recall cache: ``recall(key)`` without ``as_of`` serves current versions from a
per-process dict. Each entry is tagged with the graph store's ``change_stamp``
read *before* the database read that filled it, and is used only while the
stamp is unchanged. Every commit, from any thread or process on the same data
directory, publishes a new stamp after it commits, so an entry filled before a
write is never served after that write is visible. Cost: one memory-mapped read
per hit; any write drops the whole cache lazily.

:class:`AsyncMemoryStore` offers the same API as coroutines; SQLite and the
embedder are blocking, so each call runs in a worker thread.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from hive_middleware.config import HiveConfig, MemoryConfig
from hive_middleware.errors import HiveNotFoundError, HiveUsageError, HiveValidationError
from hive_middleware.memory import store_extract
from hive_middleware.memory.clock import HybridClock, datetime_to_hlc, hlc_physical_ms
from hive_middleware.memory.drafts import MemoryDraft
from hive_middleware.memory.extractor import Extraction, LLMExtractor
from hive_middleware.memory.outbox import EmbeddingWorker
from hive_middleware.memory.query_batch import QueryBatcher
from hive_middleware.memory.records import (
    check_aware,
    check_confidence,
    check_content,
    check_key,
    check_kind,
    check_kinds,
    check_metadata,
    check_namespace,
    check_tags,
    check_weights,
    new_record_id,
)
from hive_middleware.memory.resolve import PendingWrites, WritePlan, agent_step, plan_write
from hive_middleware.memory.retrieval import AsOf, SearchResult, hybrid_search, visible
from hive_middleware.memory.snapshot import SnapshotSummary
from hive_middleware.memory.store_kinds import KindRulesMixin, SweepResult
from hive_middleware.memory.store_snapshot import SnapshotMixin
from hive_middleware.memory.writes import AddEdges, Expire, PutRecord, Version, WriteOp
from hive_middleware.ports import Embedder, GraphStore, VectorIndex
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

__all__ = ["AsyncMemoryStore", "MemoryDraft", "MemoryStore", "ProvenanceStep", "SearchResult"]

_log = logging.getLogger(__name__)

_PROVENANCE_KINDS = (EdgeKind.CAUSED_BY, EdgeKind.SUPERSEDES, EdgeKind.DERIVED_FROM)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ProvenanceStep:
    """One step of :meth:`MemoryStore.why`: ``record`` reached through ``edge`` at ``depth`` hops."""

    record: MemoryRecord
    edge: Edge
    depth: int


def _as_of(as_of: datetime | int | None) -> AsOf | None:
    if as_of is None:
        return None
    if isinstance(as_of, bool) or not isinstance(as_of, datetime | int):
        raise HiveValidationError(
            f"as_of must be an aware datetime or an HLC stamp (int), got {type(as_of).__name__}",
            field="as_of",
        )
    if isinstance(as_of, int):
        return AsOf(stamp=as_of, moment=None)
    return AsOf(stamp=datetime_to_hlc(as_of), moment=as_of)


class MemoryStore(KindRulesMixin, SnapshotMixin):
    """Causal, bi-temporal memory (sync API). See the module docstring.

    Args:
        graph: The durable store of records, edges and outbox.
        vectors: Vector index (``None``: keyword + graph search only).
        embedder: Embeds contents and queries (``None``: no vector signal).
        namespace: Default namespace for every call; its first element is the tenant.
        config: Memory settings (limits, fusion weights, worker batch).
        clock: HLC source (inject one with a fake wall clock in tests).
        start_worker: Start the background embedding worker (needs ``vectors``
            and ``embedder``); ``False`` leaves rows in the outbox for
            :meth:`index_pending` or another process.
        worker_lock: Lock file making this process the only embedder on a data
            directory (for embedded vector indexes).
        on_close: Called after :meth:`close` (releases back-ends the store owns).
    """

    def __init__(
        self,
        graph: GraphStore,
        vectors: VectorIndex | None = None,
        embedder: Embedder | None = None,
        *,
        namespace: Sequence[str] = ("default",),
        config: MemoryConfig | None = None,
        clock: HybridClock | None = None,
        start_worker: bool = True,
        worker_lock: Path | None = None,
        worker_poll_s: float = 0.5,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.graph = graph
        self.vectors = vectors
        self.embedder = embedder
        self.namespace = check_namespace(namespace)
        self.config = config or MemoryConfig()  # type: ignore[call-arg]
        self.clock = clock or HybridClock()
        self._cache: dict[tuple[tuple[str, ...], str], tuple[int, MemoryRecord | None]] = {}
        self._on_close = on_close
        self._closed = False
        self._embed_queued = vectors is not None and embedder is not None
        self.worker: EmbeddingWorker | None = None
        if self._embed_queued:
            assert vectors is not None and embedder is not None
            self.worker = EmbeddingWorker(
                graph,
                vectors,
                embedder,
                batch=self.config.outbox_batch,
                lock_path=worker_lock,
                poll_s=worker_poll_s,
            )
            if start_worker:
                self.worker.start()
                # A store the program never closed still stops its worker before the
                # interpreter tears down what an embedding batch is using (torch
                # aborts the process otherwise); unfinished rows stay in the outbox.
                atexit.register(_close_at_exit, weakref.ref(self))
        # Searches running at once embed their queries in one batch (see query_batch).
        self._queries = QueryBatcher(self.embedder.embed) if self.embedder is not None else None
        self._query_vector = lru_cache(maxsize=256)(self._embed_one)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        config: HiveConfig | None = None,
        namespace: Sequence[str] | None = None,
        embedder: Embedder | None = None,
        start_worker: bool = True,
    ) -> MemoryStore:
        """Open the embedded store in ``data_dir`` with the back-ends named by ``config``.

        Args:
            data_dir: Data directory (default ``config.data_dir``, ``./.hive``).
            config: Settings (default :meth:`HiveConfig.load`).
            namespace: Default namespace (default ``(config.tenant,)``).
            embedder: Use this embedder instead of ``config.memory.embedder``.
            start_worker: Start the embedding worker.
        """
        from hive_middleware.memory.backends import open_backends

        cfg = config or HiveConfig.load()
        directory = Path(data_dir if data_dir is not None else cfg.data_dir)
        backends = open_backends(directory, cfg.memory, embedder=embedder)
        return cls(
            backends.graph,
            backends.vectors,
            backends.embedder,
            namespace=tuple(namespace) if namespace is not None else (cfg.tenant,),
            config=cfg.memory,
            start_worker=start_worker,
            worker_lock=backends.worker_lock,
            on_close=backends.close,
        )

    # -- helpers -----------------------------------------------------------------------------

    def _ns(self, namespace: Sequence[str] | None) -> tuple[str, ...]:
        if namespace is None:
            return self.namespace
        return check_namespace(namespace)

    def _embed_one(self, text: str) -> list[float]:
        assert self._queries is not None
        return self._queries.embed(text)

    def warm_up(self) -> None:
        """Load the embedder now (it loads lazily on first use, which can take seconds).

        Call it at start-up in services that must not pay that on a request.
        """
        self._check_open()
        if self.embedder is not None:
            self._embed_one("warm up")

    def _check_open(self) -> None:
        if self._closed:
            raise HiveUsageError("this MemoryStore is closed; open a new one")

    def _build(self, draft: MemoryDraft) -> tuple[MemoryRecord, tuple[tuple[EdgeKind, str], ...]]:
        namespace = self._ns(draft.namespace)
        content = check_content(draft.content, self.config.max_content_chars)
        key = None if draft.key is None else check_key(draft.key)
        valid_from = check_aware(draft.valid_from, "valid_from")
        record = MemoryRecord(
            id=new_record_id(),
            namespace=namespace,
            kind=check_kind(draft.kind),
            content=content,
            recorded_at=0,
            key=key,
            metadata=check_metadata(draft.metadata),
            confidence=check_confidence(draft.confidence),
            tags=check_tags(draft.tags),
            valid_from=valid_from,
        )
        links = tuple((EdgeKind.CAUSED_BY, str(c)) for c in _ids(draft.caused_by, "caused_by")) + tuple(
            (EdgeKind.RELATED_TO, str(r)) for r in _ids(draft.related_to, "related_to")
        )
        return record, links

    def _plan_write(
        self,
        record: MemoryRecord,
        links: tuple[tuple[EdgeKind, str], ...],
        pending: PendingWrites | None = None,
    ) -> WritePlan:
        """Turn one new memory into write ops: kind rules, then conflict resolution
        (ADD / UPDATE / INVALIDATE / NOOP against the closest current records);
        see :mod:`hive_middleware.memory.resolve`."""
        return plan_write(
            self.graph,
            self.config,
            record,
            links,
            embed=self._embeds(record),
            now_ms=self.clock.now_ms(),
            pending=pending,
        )

    def _embeds(self, record: MemoryRecord) -> bool:
        """Whether ``record`` gets a vector: every kind but compression artifacts.

        An artifact is a compressed-away original, fetched by its handle (its key)
        and found by keyword search; recall never injects it, and embedding long
        tool outputs was the largest share of the embedding worker's time.
        """
        return self._embed_queued and record.kind is not MemoryKind.ARTIFACT

    def _decide_write(self, record: MemoryRecord, links: tuple[tuple[EdgeKind, str], ...]) -> list[WriteOp]:
        """The write ops of one new memory (see :meth:`_plan_write`)."""
        return list(self._plan_write(record, links).ops)

    def _returned(self, plans: Sequence[WritePlan], stored: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        # A confirmed duplicate returns the record it confirmed, as it is after the commit;
        # so does a record that a later draft of the same batch confirmed.
        by_id = {r.id: r for r in stored}
        confirmed: dict[str, MemoryRecord] = {}
        for plan in plans:
            if plan.returns is not None and plan.returns not in confirmed:
                confirmed.update(self.graph.get(plan.record.tenant, [plan.returns]))
        return [confirmed.get(p.returns or p.record.id) or by_id[p.record.id] for p in plans]

    def _commit(self, ops: Sequence[WriteOp]) -> tuple[MemoryRecord, ...]:
        self._check_open()
        result = self.graph.commit(ops, self.clock)
        if result.records and self.worker is not None:
            self.worker.notify()
        return result.records

    # -- writes ------------------------------------------------------------------------------

    def remember(
        self,
        content: str,
        *,
        key: str | None = None,
        kind: MemoryKind | str = MemoryKind.EPISODIC,
        namespace: Sequence[str] | None = None,
        valid_from: datetime | None = None,
        caused_by: Iterable[str] = (),
        related_to: Iterable[str] = (),
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        confidence: float = 1.0,
    ) -> MemoryRecord:
        """Store a memory; returns once it is durable (its vector follows in the background).

        Args:
            content: The text to remember (non-blank, at most ``max_content_chars``).
            key: Stable key; if it already has a current version in the
                namespace, that version is superseded.
            kind: Cognitive kind.
            namespace: Where to store it (default: the store's namespace).
            valid_from: When it became true in the world (aware datetime).
            caused_by: Ids of records that caused this one (``caused_by`` edges).
            related_to: Ids of related records (``related_to`` edges).
            tags: Labels for filtering.
            metadata: JSON-serialisable extra fields.
            confidence: Belief in [0, 1].

        Returns:
            The stored record (with its id and HLC ``recorded_at``).

        Raises:
            HiveValidationError: empty or oversized content, naive datetime, bad field.
            HiveTenantError: bad namespace, or a link to a record of another tenant.
            HiveStorageError: the graph store failed (nothing was stored).
        """
        draft = MemoryDraft(
            content=content,
            key=key,
            kind=kind,  # type: ignore[arg-type]
            # Sequences are validated (and a bare string refused) in _build.
            namespace=namespace,  # type: ignore[arg-type]
            valid_from=valid_from,
            caused_by=caused_by,  # type: ignore[arg-type]
            related_to=related_to,  # type: ignore[arg-type]
            tags=tags,  # type: ignore[arg-type]
            metadata=metadata,
            confidence=confidence,
        )
        record, links = self._build(draft)
        plan = self._plan_write(record, links)
        return self._returned([plan], self._commit(plan.ops))[0]

    def remember_many(self, drafts: Iterable[MemoryDraft | Mapping[str, Any]]) -> list[MemoryRecord]:
        """Store many memories in one durable transaction (all or nothing).

        Args:
            drafts: :class:`MemoryDraft` objects or dicts with the same fields.

        Returns:
            The stored records, in order (a record may link to one stored
            earlier in the same call).

        Raises:
            Same as :meth:`remember`; the first bad item (``index`` field) stops the call.
        """
        ops: list[WriteOp] = []
        plans: list[WritePlan] = []
        pending = PendingWrites()
        for index, item in enumerate(drafts):
            try:
                draft = item if isinstance(item, MemoryDraft) else _draft_from_mapping(item)
                record, links = self._build(draft)
                plan = self._plan_write(record, links, pending)
            except HiveValidationError as exc:
                exc.fields.setdefault("index", index)
                exc.index = index  # type: ignore[attr-defined]
                raise
            plans.append(plan)
            ops.extend(plan.ops)
            if plan.returns is None:
                pending.add(plan.record)
        if not ops:
            return []
        return self._returned(plans, self._commit(ops))

    def remember_extracted(
        self,
        conversation: str | Sequence[Mapping[str, Any]],
        *,
        namespace: Sequence[str] | None = None,
        extractor: LLMExtractor | None = None,
        caused_by: Iterable[str] = (),
    ) -> tuple[list[MemoryRecord], Extraction]:
        """Extract facts and relations from ``conversation`` and remember them (one transaction).

        Off unless ``MemoryConfig.extractor_model`` is set or ``extractor`` is
        passed; see :mod:`~hive_middleware.memory.store_extract` for what is written.

        Args:
            conversation: A text or OpenAI-format messages.
            namespace: Where to store them (default: the store's).
            extractor: Use this extractor instead of the configured one.
            caused_by: Ids of records the facts come from (``caused_by`` edges).

        Returns:
            The stored (or confirmed) records, facts first, and the extraction
            (calls made, windows skipped by the budget, items rejected).

        Raises:
            HiveConfigError: no extractor passed and ``extractor_model`` is unset.
            HiveModelError: the model call failed or did not reply with JSON.
        """
        return store_extract.remember_extracted(
            self, conversation, namespace=namespace, extractor=extractor, caused_by=caused_by
        )

    def supersede(
        self,
        key: str,
        new_content: str,
        *,
        namespace: Sequence[str] | None = None,
        reason: str | None = None,
        valid_from: datetime | None = None,
        kind: MemoryKind | str | None = None,
        caused_by: Iterable[str] = (),
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        confidence: float | None = None,
    ) -> MemoryRecord:
        """Replace the current version of ``key``: close it and link ``new --supersedes--> old``.

        Unset fields (kind, tags, metadata, confidence) are carried over from the
        old version. The old version's ``valid_to`` becomes ``valid_from`` (or now).

        Raises:
            HiveNotFoundError: ``key`` has no current version in the namespace.
        """
        ns = self._ns(namespace)
        key = check_key(key)
        old = self.graph.current(ns, key)
        if old is None:
            raise HiveNotFoundError(
                f"key {key!r} has no current version in namespace {ns!r}; remember() it first",
                key=key,
                namespace=ns,
            )
        draft = MemoryDraft(
            content=new_content,
            key=key,
            kind=old.kind if kind is None else kind,  # type: ignore[arg-type]
            namespace=ns,
            valid_from=valid_from,
            caused_by=caused_by,  # type: ignore[arg-type]
            tags=old.tags if tags is None else tags,  # type: ignore[arg-type]
            metadata=old.metadata if metadata is None else metadata,
            confidence=old.confidence if confidence is None else confidence,
        )
        record, links = self._build(draft)
        op = PutRecord(
            record, supersede=True, require_current=True, links=links, reason=reason, embed=self._embeds(record)
        )
        return self._commit([op])[0]

    def forget(self, key: str, reason: str, *, namespace: Sequence[str] | None = None) -> None:
        """Stop believing the current version of ``key`` (temporal invalidation; nothing is deleted).

        Raises:
            HiveNotFoundError: ``key`` has no current version.
            HiveValidationError: ``reason`` is blank.
        """
        ns = self._ns(namespace)
        key = check_key(key)
        if not isinstance(reason, str) or not reason.strip():
            raise HiveValidationError("forget() needs a non-empty reason (kept in history)", field="reason")
        self._commit([Expire(ns, reason, key=key)])

    def link(self, src: str, kind: EdgeKind | str, dst: str, *, tenant: str | None = None) -> None:
        """Add an edge ``src --kind--> dst`` between two records of one tenant.

        Raises:
            HiveTenantError: either id is not a record of the tenant.
        """
        self._commit([AddEdges(tenant or self.namespace[0], ((src, EdgeKind(kind), dst),))])

    # -- reads -------------------------------------------------------------------------------

    def recall(
        self, key: str, *, as_of: datetime | int | None = None, namespace: Sequence[str] | None = None
    ) -> MemoryRecord | None:
        """The current version of ``key`` or, with ``as_of``, the version known and valid then.

        Returns:
            The record, or ``None`` if there is none (never stored, forgotten, or
            not yet known/valid at ``as_of``).
        """
        ns = self.namespace if namespace is None else check_namespace(namespace)
        if as_of is None:
            stamp = self.graph.change_stamp()
            hit = self._cache.get((ns, key))
            if hit is not None and hit[0] == stamp:
                record = hit[1]
            else:
                check_key(key)
                record = self.graph.current(ns, key)
                if self.config.recall_cache_size:
                    if len(self._cache) >= self.config.recall_cache_size:
                        self._cache.clear()
                    self._cache[(ns, key)] = (stamp, record)
            if record is not None and record.kind is MemoryKind.SENSORY and self.sensory_hidden(record):
                return None
            return record
        point = _as_of(as_of)
        at_ms = hlc_physical_ms(point.stamp) if point is not None else None
        found = [
            v.record
            for v in self.graph.versions(ns, check_key(key))
            if visible(v.record, point) and not self.sensory_hidden(v.record, at_ms)
        ]
        return found[-1] if found else None

    def history(self, key: str, *, namespace: Sequence[str] | None = None) -> list[Version]:
        """Every version of ``key``, oldest first, with why each was written and expired."""
        return self.graph.versions(self._ns(namespace), check_key(key))

    def _resolve(self, ref: str, ns: tuple[str, ...]) -> MemoryRecord:
        record = self.graph.current(ns, ref) if isinstance(ref, str) and ref.strip() else None
        if record is None:
            record = self.graph.get(ns[0], [ref]).get(ref)
        if record is None:
            raise HiveNotFoundError(
                f"{ref!r} is neither a current key in {ns!r} nor a record id of tenant {ns[0]!r}",
                key=ref,
                namespace=ns,
            )
        return record

    def neighbours(
        self,
        key: str,
        kind: EdgeKind | str | None = None,
        depth: int = 1,
        *,
        namespace: Sequence[str] | None = None,
    ) -> list[MemoryRecord]:
        """Records linked to ``key`` (a key, or a record id) within ``depth`` hops, nearest first.

        Args:
            key: A current key of the namespace, or a record id of the tenant.
            kind: Follow only this edge kind (default: every kind).
            depth: Hops to walk (1 = direct neighbours).
        """
        ns = self._ns(namespace)
        if depth < 1:
            raise HiveValidationError(f"depth must be >= 1, got {depth}", field="depth")
        start = self._resolve(key, ns)
        kinds = None if kind is None else [EdgeKind(kind)]
        reached = self.graph.traverse(ns[0], [start.id], kinds=kinds, depth=depth, direction="both")
        records = self.graph.get(ns[0], list(reached))
        order = sorted(records, key=lambda rid: (reached[rid], records[rid].recorded_at))
        return [records[rid] for rid in order]

    def why(
        self, key: str, *, namespace: Sequence[str] | None = None, depth: int = 8
    ) -> list[ProvenanceStep]:
        """Provenance of ``key`` (a key or record id): walk ``caused_by``, ``supersedes`` and
        ``derived_from`` edges outwards, breadth first, up to ``depth`` hops, plus the
        confirmations and contradictions between agents (see
        :func:`~hive_middleware.memory.resolve.agent_step`)."""
        ns = self._ns(namespace)
        tenant = ns[0]
        start = self._resolve(key, ns)
        steps: list[ProvenanceStep] = []
        seen = {start.id}
        frontier = [start.id]
        for hop in range(1, depth + 1):
            following: list[tuple[Edge, str]] = []
            for rid in frontier:
                for edge in self.graph.edges(tenant, rid):
                    step = edge.dst if edge.src == rid and edge.kind in _PROVENANCE_KINDS else agent_step(edge, rid)
                    if step is not None and step not in seen:
                        seen.add(step)
                        following.append((edge, step))
            if not following:
                break
            records = self.graph.get(tenant, [dst for _, dst in following])
            steps += [ProvenanceStep(records[dst], edge, hop) for edge, dst in following if dst in records]
            frontier = [dst for _, dst in following]
        return steps

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        as_of: datetime | int | None = None,
        kinds: Iterable[MemoryKind | str] | None = None,
        tags: Iterable[str] | None = None,
        min_confidence: float | None = None,
        namespace: Sequence[str] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> list[SearchResult]:
        """Hybrid search (vector + BM25 + graph expansion + time, fused by RRF).

        Args:
            query: Free text.
            k: Results wanted (1-1000).
            as_of: Search what was known and valid then (aware datetime or HLC stamp).
            kinds: Keep only these kinds.
            tags: Keep only records with all these tags.
            min_confidence: Keep only records at least this confident.
            namespace: Namespace prefix to search (default: the store's).
            weights: Signal weights for this search only, overriding the configured
                ``weight_<signal>``: keys among ``vector``, ``bm25``, ``graph``,
                ``recency``, ``author``, ``date``; 0 turns a signal off.

        Returns:
            Up to ``k`` :class:`SearchResult`, best first, each naming the signals that found it.
        """
        self._check_open()
        ns = self._ns(namespace)
        config = self.config
        if weights is not None:
            config = config.model_copy(update={f"weight_{s}": w for s, w in check_weights(weights).items()})
        if not isinstance(query, str) or not query.strip():
            raise HiveValidationError("search() needs a non-empty query", field="query")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
            raise HiveValidationError(f"k must be an int in [1, 1000], got {k!r}", field="k")
        point = _as_of(as_of)
        at_ms = hlc_physical_ms(point.stamp) if point is not None else self.clock.now_ms()
        return hybrid_search(
            graph=self.graph,
            vectors=self.vectors,
            embedder=self.embedder,
            config=config,
            namespace=ns,
            query=query,
            k=k,
            as_of=point,
            hide=lambda record: self.sensory_hidden(record, at_ms),
            kinds=None if kinds is None else check_kinds(kinds),
            tags=None if tags is None else check_tags(tags),
            min_confidence=None if min_confidence is None else check_confidence(min_confidence),
            embed_query=self._query_vector if self.embedder is not None else None,
            executor=self._vector_executor(),
        )

    def _vector_executor(self) -> ThreadPoolExecutor | None:
        # A worker thread embeds the query and asks the vector index while the calling
        # thread runs the keyword search (torch and SQLite release the GIL). Many
        # workers, so that concurrent searches' queries meet in one embedding batch.
        if self.embedder is None or self.vectors is None:
            return None
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hive-search")
        return self._executor

    # -- indexing, erase, lifecycle ----------------------------------------------------------

    def wait_indexed(self, timeout: float | None = 30.0) -> bool:
        """Block until the outbox is empty (every record has its vector), or ``timeout``.

        Returns:
            True when drained; False on timeout.

        Raises:
            HiveStorageError: embedding is failing and rows are waiting.
        """
        if self.worker is None:
            return True
        return self.worker.wait_idle(timeout)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Alias of :meth:`wait_indexed`."""
        return self.wait_indexed(timeout)

    def index_pending(self) -> int:
        """Embed outbox rows in the calling thread until none is left; returns rows done."""
        if self.worker is None:
            return 0
        total = 0
        while (done := self.worker.run_once()) > 0:
            total += done
        return total

    def erase_tenant(self, tenant: str) -> None:
        """Really delete everything of ``tenant``: records, edges, keyword index, outbox rows, vectors.

        Raises:
            HiveTenantError: ``tenant`` is not a valid tenant name.
        """
        self._check_open()
        tenant = check_namespace((tenant,))[0]
        self.graph.erase_tenant(tenant)
        if self.vectors is not None:
            self.vectors.delete_tenant(tenant)
        self._cache.clear()

    def close(self) -> None:
        """Stop the worker (rows left in the outbox resume on the next open) and release back-ends."""
        if self._closed:
            return
        self._closed = True
        if self.worker is not None:
            self.worker.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_at_exit(ref: weakref.ReferenceType[MemoryStore]) -> None:
    store = ref()
    if store is not None:
        try:
            store.close()
        except Exception:  # exiting anyway: report, never mask the exit status
            _log.exception("closing a memory store at exit failed")


def _ids(values: Iterable[str], field_name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise HiveValidationError(
            f"{field_name} must be a list of record ids, not one string", field=field_name
        )
    out = tuple(values)
    for value in out:
        if not isinstance(value, str) or not value:
            raise HiveValidationError(
                f"{field_name} must hold record ids (strings), got {value!r}", field=field_name
            )
    return out


_DRAFT_FIELDS = frozenset(f.name for f in dataclasses.fields(MemoryDraft))


def _draft_from_mapping(item: Mapping[str, Any]) -> MemoryDraft:
    if not isinstance(item, Mapping):
        raise HiveValidationError(
            f"remember_many() items must be MemoryDraft or dict, got {type(item).__name__}", field="item"
        )
    unknown = set(item) - _DRAFT_FIELDS
    if unknown:
        raise HiveValidationError(
            f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_DRAFT_FIELDS)}", field=sorted(unknown)[0]
        )
    values = dict(item)
    for name in ("namespace", "caused_by", "related_to", "tags"):
        if name in values and values[name] is not None and not isinstance(values[name], str):
            values[name] = tuple(values[name])
    return MemoryDraft(**values)


class AsyncMemoryStore:
    """The :class:`MemoryStore` API as coroutines; each call runs in a worker thread.

    Args:
        store: The sync store to drive (``AsyncMemoryStore.open`` builds one).
    """

    def __init__(self, store: MemoryStore) -> None:
        self.sync = store

    @classmethod
    async def open(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        config: HiveConfig | None = None,
        namespace: Sequence[str] | None = None,
        embedder: Embedder | None = None,
    ) -> AsyncMemoryStore:
        """Open the embedded store (see :meth:`MemoryStore.open`) without blocking the loop."""
        store = await _in_thread(
            MemoryStore.open, data_dir, config=config, namespace=namespace, embedder=embedder
        )
        return cls(store)

    async def remember(self, content: str, **kwargs: Any) -> MemoryRecord:
        """See :meth:`MemoryStore.remember`."""
        return await _in_thread(self.sync.remember, content, **kwargs)

    async def remember_many(self, drafts: Iterable[MemoryDraft | Mapping[str, Any]]) -> list[MemoryRecord]:
        """See :meth:`MemoryStore.remember_many`."""
        return await _in_thread(self.sync.remember_many, list(drafts))

    async def recall(self, key: str, **kwargs: Any) -> MemoryRecord | None:
        """See :meth:`MemoryStore.recall`."""
        return await _in_thread(self.sync.recall, key, **kwargs)

    async def supersede(self, key: str, new_content: str, **kwargs: Any) -> MemoryRecord:
        """See :meth:`MemoryStore.supersede`."""
        return await _in_thread(self.sync.supersede, key, new_content, **kwargs)

    async def forget(self, key: str, reason: str, **kwargs: Any) -> None:
        """See :meth:`MemoryStore.forget`."""
        await _in_thread(self.sync.forget, key, reason, **kwargs)

    async def history(self, key: str, **kwargs: Any) -> list[Version]:
        """See :meth:`MemoryStore.history`."""
        return await _in_thread(self.sync.history, key, **kwargs)

    async def neighbours(
        self, key: str, kind: EdgeKind | str | None = None, depth: int = 1, **kwargs: Any
    ) -> list[MemoryRecord]:
        """See :meth:`MemoryStore.neighbours`."""
        return await _in_thread(self.sync.neighbours, key, kind, depth, **kwargs)

    async def why(self, key: str, **kwargs: Any) -> list[ProvenanceStep]:
        """See :meth:`MemoryStore.why`."""
        return await _in_thread(self.sync.why, key, **kwargs)

    async def link(self, src: str, kind: EdgeKind | str, dst: str, **kwargs: Any) -> None:
        """See :meth:`MemoryStore.link`."""
        await _in_thread(self.sync.link, src, kind, dst, **kwargs)

    async def search(self, query: str, **kwargs: Any) -> list[SearchResult]:
        """See :meth:`MemoryStore.search`."""
        return await _in_thread(self.sync.search, query, **kwargs)

    async def prospective_matches(self, content: str, **kwargs: Any) -> list[MemoryRecord]:
        """See :meth:`MemoryStore.prospective_matches`."""
        return await _in_thread(self.sync.prospective_matches, content, **kwargs)

    async def consolidate(self, **kwargs: Any) -> list[MemoryRecord]:
        """See :meth:`MemoryStore.consolidate`."""
        return await _in_thread(self.sync.consolidate, **kwargs)

    async def end_task(self, task: str, **kwargs: Any) -> list[str]:
        """See :meth:`MemoryStore.end_task`."""
        return await _in_thread(self.sync.end_task, task, **kwargs)

    async def sweep(self, **kwargs: Any) -> SweepResult:
        """See :meth:`MemoryStore.sweep`."""
        return await _in_thread(self.sync.sweep, **kwargs)

    async def confidence(self, key: str, **kwargs: Any) -> float:
        """See :meth:`MemoryStore.confidence`."""
        return await _in_thread(self.sync.confidence, key, **kwargs)

    async def use_procedure(self, key: str, **kwargs: Any) -> MemoryRecord:
        """See :meth:`MemoryStore.use_procedure`."""
        return await _in_thread(self.sync.use_procedure, key, **kwargs)

    async def snapshot(self, path: str | os.PathLike[str], **kwargs: Any) -> SnapshotSummary:
        """See :meth:`MemoryStore.snapshot`."""
        return await _in_thread(self.sync.snapshot, path, **kwargs)

    async def restore(self, path: str | os.PathLike[str], **kwargs: Any) -> int:
        """See :meth:`MemoryStore.restore`."""
        return await _in_thread(self.sync.restore, path, **kwargs)

    async def erase_tenant(self, tenant: str) -> None:
        """See :meth:`MemoryStore.erase_tenant`."""
        await _in_thread(self.sync.erase_tenant, tenant)

    async def wait_indexed(self, timeout: float | None = 30.0) -> bool:
        """See :meth:`MemoryStore.wait_indexed`."""
        return await _in_thread(self.sync.wait_indexed, timeout)

    async def aclose(self) -> None:
        """See :meth:`MemoryStore.close`."""
        await _in_thread(self.sync.close)

    async def __aenter__(self) -> AsyncMemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _in_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    import functools

    import anyio.to_thread

    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
