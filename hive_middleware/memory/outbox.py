"""The background embedding worker: drains the graph store's outbox into the vector index.

``remember`` only writes SQLite (record + outbox row, one transaction); this
worker thread leases outbox rows in batches, embeds their content, upserts the
vectors and acknowledges the rows. A row is acknowledged only after its vector
is stored, so a crash at any point leaves the row in the outbox, and its lease
expires and it is embedded again (upserts are idempotent). Restarting a store
on the same data directory resumes whatever was left.

When the vector index cannot take writers from several processes (an embedded
Chroma directory), the worker first takes an exclusive ``flock`` on
``lock_path``: one process embeds for all, the others' rows still drain because
the outbox is shared.

Other processes' commits are seen at the next poll, or at once when a doorbell
(:class:`~hive_middleware.hivemind.ports.WakeSignal`, e.g. Redis pub/sub) is
attached with :meth:`EmbeddingWorker.attach_doorbell`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hive_middleware.errors import HiveStorageError
from hive_middleware.ports import Embedder, GraphStore, VectorIndex

if TYPE_CHECKING:
    from hive_middleware.hivemind.ports import WakeSignal

__all__ = ["EmbeddingWorker"]

_log = logging.getLogger(__name__)


class EmbeddingWorker:
    """A daemon thread that embeds outbox rows and upserts them into a vector index.

    Args:
        graph: Owner of the outbox.
        vectors: Where the vectors go.
        embedder: Turns contents into vectors.
        batch: Rows per embedding batch.
        poll_s: How often to look for rows written by other processes.
        lease_s: How long a claimed row stays invisible to other workers.
        lock_path: If set, only the process holding an exclusive lock on this
            file embeds (for vector indexes with a single-writer directory).
    """

    def __init__(
        self,
        graph: GraphStore,
        vectors: VectorIndex,
        embedder: Embedder,
        *,
        batch: int = 64,
        poll_s: float = 0.5,
        lease_s: float = 60.0,
        lock_path: Path | None = None,
    ) -> None:
        self._graph = graph
        self._vectors = vectors
        self._embedder = embedder
        self._batch = batch
        self._poll_s = poll_s
        self._lease_s = lease_s
        self._lock_path = lock_path
        self._lock_file: IO[bytes] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self.last_error: BaseException | None = None
        self.embedded = 0
        self._announce: Callable[[], None] | None = None
        self._stop_listening: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="hive-embedding-worker", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def notify(self) -> None:
        """Wake the worker: new rows were committed in this process (rings the doorbell, if any)."""
        self._wake.set()
        if self._announce is not None:
            self._announce()

    def wake(self) -> None:
        """Wake the worker without ringing the doorbell: another process committed rows."""
        self._wake.set()

    def attach_doorbell(self, signal: WakeSignal) -> None:
        """Ring ``signal`` on every :meth:`notify` and wake on every ring from other processes.

        The poll stays as the fallback: a lost ring only delays rows to the next poll.
        """
        self._announce = signal.announce
        self._stop_listening = signal.listen(self.wake)

    @property
    def is_leader(self) -> bool:
        """Whether this process may embed (always true without ``lock_path``)."""
        return self._lock_path is None or self._lock_file is not None

    def _try_lead(self) -> bool:
        if self.is_leader:
            return True
        assert self._lock_path is not None
        handle = open(self._lock_path, "ab")  # noqa: SIM115 - held open for the process's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._lock_file = handle
        return True

    def run_once(self) -> int:
        """Embed one batch now, in the calling thread; returns rows acknowledged."""
        with self._busy:
            items = self._graph.claim_outbox(self._batch, self._lease_s)
            if not items:
                return 0
            vectors = self._embedder.embed([item.content for item in items])
            by_tenant: dict[str, tuple[list[str], list[list[float]]]] = defaultdict(lambda: ([], []))
            for item, vector in zip(items, vectors, strict=True):
                ids, vecs = by_tenant[item.tenant]
                ids.append(item.record_id)
                vecs.append(vector)
            for tenant, (ids, vecs) in by_tenant.items():
                self._vectors.upsert(tenant, ids, vecs)
            self._graph.ack_outbox(items)
            self.embedded += len(items)
            return len(items)

    def _run(self) -> None:
        backoff = self._poll_s
        while not self._stop.is_set():
            try:
                if not self._try_lead():
                    self._stop.wait(self._poll_s)
                    continue
                done = self.run_once()
                self.last_error = None
                backoff = self._poll_s
            except Exception as exc:  # the worker must outlive a failing batch
                # The claimed rows stay in the outbox and are retried when their
                # lease expires; the error is kept for wait_indexed() to raise.
                self.last_error = exc
                _log.exception("embedding batch failed; the rows will be retried")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if done == 0:
                self._wake.wait(self._poll_s)
                self._wake.clear()

    def wait_idle(self, timeout: float | None, *, pending: int = 0) -> bool:
        """Block until the shared outbox has at most ``pending`` rows, or ``timeout``.

        Returns:
            True if the outbox drained in time.

        Raises:
            HiveStorageError: the last batch failed and rows are still waiting.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.002
        while True:
            left = self._graph.outbox_pending()
            if left <= pending:
                return True
            if self.last_error is not None:
                raise HiveStorageError(
                    f"embedding {left} outbox row(s) failed: {self.last_error}; fix the embedder or vector "
                    "index, rows are retried",
                    pending=left,
                ) from self.last_error
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (finishing the batch in progress) and release the lock."""
        self._stop.set()
        self._wake.set()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
