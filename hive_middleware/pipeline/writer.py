"""Durable memory writes shared by every caller: acknowledged means committed.

:class:`MemoryWriter` owns one thread that commits memory items to the store.
Callers hand it items and wait (``write``) or await (``awrite``) the commit:
when either returns, the items are in the graph store (SQLite WAL on the embedded
default); only their embeddings may still wait in the outbox. Items of all callers
waiting at once go into one transaction (group commit), so many concurrent
conversations pay for few commits.

The queue is bounded: when ``max_pending`` jobs wait, a caller waits too
(backpressure) instead of the queue growing. Nothing is acknowledged before it is
durable, so a killed process loses only what nobody was told was remembered; a
caller that retries such a write writes the same keys, which the store takes as a
confirmation, not a duplicate.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import queue
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hive_middleware.errors import HiveError, HiveUsageError
from hive_middleware.pipeline.counters import Counters
from hive_middleware.pipeline.ingest import MemoryItem
from hive_middleware.types import EdgeKind, MemoryKind, MemoryRecord

if TYPE_CHECKING:
    from hive_middleware.memory.store import MemoryStore

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_PENDING", "MemoryWriter"]

logger = logging.getLogger("hive_middleware.pipeline")

DEFAULT_MAX_PENDING = 1_024
"""Write jobs that may wait at once before callers are held back."""
DEFAULT_MAX_BATCH = 512
"""Most items committed in one transaction."""
_ID_CACHE = 65_536


@dataclass(slots=True)
class _Job:
    items: Sequence[MemoryItem]
    future: Future[list[MemoryRecord]]


class MemoryWriter:
    """Commit memory items on one thread; callers wait for durability.

    Args:
        store: The memory store written to.
        stats: Where dropped links and failed writes are counted.
        max_pending: Jobs that may wait before :meth:`submit` blocks.
        max_batch: Most items per transaction.
    """

    def __init__(
        self,
        store: MemoryStore,
        *,
        stats: Counters | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_pending < 1 or max_batch < 1:
            raise HiveUsageError(f"max_pending and max_batch must be >= 1, got {max_pending}, {max_batch}")
        self.store = store
        self.stats = stats if stats is not None else Counters()
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # Record ids of keys written lately, so causes resolve without a read.
        self._ids: OrderedDict[tuple[tuple[str, ...], str], str] = OrderedDict()

    # -- submitting ------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise HiveUsageError("this MemoryWriter is closed; build a new stack or pipeline")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hive-memory-writer", daemon=True)
                self._thread.start()
                # Jobs still queued at exit are committed before the store closes.
                atexit.register(_close_weakly, weakref.ref(self))

    def submit(self, items: Sequence[MemoryItem]) -> Future[list[MemoryRecord]]:
        """Queue ``items``; the future resolves with their records once committed.

        Blocks while ``max_pending`` jobs wait (backpressure).
        """
        future: Future[list[MemoryRecord]] = Future()
        if not items:
            future.set_result([])
            return future
        self._start()
        self._queue.put(_Job(list(items), future))
        return future

    def write(self, items: Sequence[MemoryItem], timeout: float | None = None) -> list[MemoryRecord]:
        """Commit ``items`` and return their records (durable when this returns).

        Raises:
            HiveError: the store refused the items (nothing of this call was stored).
        """
        return self.submit(items).result(timeout)

    async def awrite(self, items: Sequence[MemoryItem]) -> list[MemoryRecord]:
        """Async :meth:`write`: the event loop keeps running while the commit happens."""
        if not items:
            return []
        self._start()
        future: Future[list[MemoryRecord]] = Future()
        job = _Job(list(items), future)
        try:
            self._queue.put_nowait(job)
        except queue.Full:  # backpressure without blocking the event loop
            await asyncio.to_thread(self._queue.put, job)
        return await asyncio.wrap_future(future)

    def pending(self) -> int:
        """Jobs waiting to be committed."""
        return self._queue.qsize()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every job queued so far is committed; True when done in time."""
        if self._thread is None or not self._thread.is_alive():
            return True
        marker: Future[list[MemoryRecord]] = Future()
        self._queue.put(_Job([], marker))
        try:
            marker.result(timeout)
        except TimeoutError:
            return False
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            size = len(job.items)
            stop = False
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                size += len(more.items)
            self._commit_batch(batch)
            if stop:
                return

    def _commit_batch(self, batch: list[_Job]) -> None:
        jobs = [job for job in batch if job.items]
        try:
            if jobs:
                records = self._commit([item for job in jobs for item in job.items])
                at = 0
                for job in jobs:
                    job.future.set_result(records[at: at + len(job.items)])
                    at += len(job.items)
        except Exception as exc:
            if len(jobs) == 1:
                self._fail(jobs[0], exc)
            else:  # one bad job must not fail the others: commit each alone
                for job in jobs:
                    try:
                        job.future.set_result(self._commit(list(job.items)))
                    except Exception as one:
                        self._fail(job, one)
        for job in batch:
            if not job.items and not job.future.done():
                job.future.set_result([])

    def _fail(self, job: _Job, exc: BaseException) -> None:
        self.stats.add("memory.write_failed", len(job.items))
        logger.warning("hive memory write of %d items failed (keys %s): %r",
                       len(job.items), [i.key for i in job.items[:4]], exc)
        job.future.set_exception(exc)

    def _commit(self, items: list[MemoryItem]) -> list[MemoryRecord]:
        from hive_middleware.memory.store import MemoryDraft

        drafts = [
            MemoryDraft(
                content=item.content,
                key=item.key,
                kind=MemoryKind.EPISODIC,
                namespace=item.identity.namespace,
                valid_from=item.valid_from,
                tags=(str(item.metadata.get("type", "event")),),
                metadata=item.metadata,
            )
            for item in items
        ]
        records = self.store.remember_many(drafts)
        for item, record in zip(items, records, strict=True):
            self._note((item.identity.namespace, item.key), record.id)
        self._link(items, records)
        self.stats.add("memory.remembered", len(records))
        return records

    def _note(self, ref: tuple[tuple[str, ...], str], record_id: str) -> None:
        self._ids[ref] = record_id
        self._ids.move_to_end(ref)
        while len(self._ids) > _ID_CACHE:
            self._ids.popitem(last=False)

    def _resolve(self, namespace: tuple[str, ...], key: str) -> str | None:
        found = self._ids.get((namespace, key))
        if found is not None:
            return found
        record = self.store.recall(key, namespace=namespace)
        if record is None:
            return None
        self._note((namespace, key), record.id)
        return record.id

    def _link(self, items: list[MemoryItem], records: list[MemoryRecord]) -> None:
        from hive_middleware.memory.writes import AddEdges

        by_tenant: dict[str, list[tuple[str, EdgeKind, str]]] = {}
        for item, record in zip(items, records, strict=True):
            namespace = item.identity.namespace
            for ref, kind in ((item.cause, EdgeKind.CAUSED_BY), (item.follows, EdgeKind.RELATED_TO)):
                if ref is None:
                    continue
                target = self._resolve(namespace, ref)
                if target is None or target == record.id:
                    self.stats.add("memory.link_unresolved")
                    logger.info("hive memory: %s link of %s to %s dropped: no such key in %s",
                                kind.value, item.key, ref, namespace)
                    continue
                edge = (record.id, kind, target) if kind is EdgeKind.CAUSED_BY else (target, kind, record.id)
                by_tenant.setdefault(record.tenant, []).append(edge)
        if by_tenant:
            self.store.graph.commit(
                [AddEdges(tenant, tuple(dict.fromkeys(edges))) for tenant, edges in by_tenant.items()],
                self.store.clock,
            )


def _close_weakly(ref: weakref.ReferenceType[MemoryWriter]) -> None:
    writer = ref()
    if writer is not None:
        with contextlib.suppress(HiveError):  # already closed
            writer.close(timeout=10)
