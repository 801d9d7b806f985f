"""Keep agents working while the shared back-end is down: a durable local queue, flushed on return.

Writes that must be shared (channel creations and publishes, registry beats,
learning steps) go straight to the shared back-end while it answers. When it is
unreachable (:class:`~hive_middleware.errors.HiveStorageError` with
``unavailable=True``) they go to a SQLite queue under the data directory
(``hivemind-pending.sqlite3``) and the call returns at once; while anything is
queued, later writes queue behind it so one process's writes keep their order.
A :class:`Reconciler` thread retries every ``shared.retry_s`` and replays the
queue oldest first, deleting each row only after the back-end stored it.

Nothing is doubled: every replayed write is idempotent in the back-end (events
and steps by their ids, channel creations by name, beats by ``seen_at``), so a
write whose first try did land, or a row replayed twice after a crash, is
stored once. Nothing acknowledged is lost: the queue is bounded by
``shared.pending_max``; a write that would exceed it is refused with an error
instead of being dropped (registry beats replace their agent's queued beat, so
they never fill it). Counters: ``hivemind.queued``, ``hivemind.flushed``,
``hivemind.refused``, ``hivemind.flush_failed``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hive_middleware.errors import HiveStorageError
from hive_middleware.hivemind.model import (
    AgentBeat,
    AgentRecord,
    ChannelEvent,
    ChannelInfo,
    LearnedStep,
    LearningStep,
    from_epoch,
)
from hive_middleware.hivemind.ports import AgentRegistry, ChannelLog, LearningLog
from hive_middleware.pipeline.counters import Counters

__all__ = [
    "PENDING_FILE_NAME",
    "FallbackAgentRegistry",
    "FallbackChannelLog",
    "FallbackLearningLog",
    "PendingQueue",
    "PendingWrite",
    "Reconciler",
    "is_unavailable",
]

_log = logging.getLogger(__name__)

PENDING_FILE_NAME = "hivemind-pending.sqlite3"
_FLUSH_BATCH = 200

T = TypeVar("T")


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the shared back-end could not be reached."""
    return isinstance(exc, HiveStorageError) and bool(exc.fields.get("unavailable"))


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """One queued write: ``op`` is ``create``, ``publish``, ``beat`` or ``learn``."""

    seq: int
    op: str
    tenant: str
    body: str


class PendingQueue:
    """The durable FIFO of writes waiting for the shared back-end.

    Args:
        path: The SQLite file (created if missing).
        capacity: Most rows kept (``shared.pending_max``).
    """

    def __init__(self, path: Path, *, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, "
                "tenant TEXT NOT NULL, dedupe TEXT NOT NULL UNIQUE, body TEXT NOT NULL)"
            )
        except (sqlite3.Error, OSError) as exc:
            raise HiveStorageError(
                f"cannot open the shared-write queue {path}: {exc}; check the data directory is writable",
                path=str(path),
            ) from exc

    def put(self, op: str, tenant: str, dedupe: str, body: str, *, replace: bool) -> None:
        """Queue a write; a row with the same ``dedupe`` is kept (or, with ``replace``, updated).

        Raises:
            HiveStorageError: the queue holds ``capacity`` rows (``queue_full=True``).
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    exists = self._conn.execute("SELECT 1 FROM pending WHERE dedupe = ?", (dedupe,)).fetchone()
                    if exists is None:
                        (count,) = self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()
                        if count >= self.capacity:
                            raise HiveStorageError(
                                f"the shared back-end is unreachable and {count} writes already wait in "
                                f"{self.path} (shared.pending_max={self.capacity}); bring it back or raise "
                                "shared.pending_max",
                                queue_full=True,
                                pending=count,
                            )
                        self._conn.execute(
                            "INSERT INTO pending (op, tenant, dedupe, body) VALUES (?, ?, ?, ?)",
                            (op, tenant, dedupe, body),
                        )
                    elif replace:
                        self._conn.execute("UPDATE pending SET body = ? WHERE dedupe = ?", (body, dedupe))
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise HiveStorageError(f"shared-write queue {self.path} failed: {exc}", path=str(self.path)) from exc

    def peek(self, limit: int) -> list[PendingWrite]:
        """The oldest ``limit`` rows."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, op, tenant, body FROM pending ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [PendingWrite(seq=r[0], op=r[1], tenant=r[2], body=r[3]) for r in rows]

    def delete(self, seq: int) -> None:
        """Drop a row the back-end has stored."""
        with self._lock:
            self._conn.execute("DELETE FROM pending WHERE seq = ?", (seq,))

    def count(self) -> int:
        """Rows waiting."""
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()


class Reconciler:
    """Sends shared writes, queues them while the back-end is down and replays the queue.

    Args:
        channels: The shared channel log.
        agents: The shared agent registry.
        learning: The shared learning log.
        queue: Where writes wait.
        retry_s: Seconds between replay attempts (``shared.retry_s``).
        stats: Where the ``hivemind.*`` counters go.
        start: Start the replay thread now (tests call :meth:`flush` instead).
    """

    def __init__(
        self,
        channels: ChannelLog,
        agents: AgentRegistry,
        learning: LearningLog,
        queue: PendingQueue,
        *,
        retry_s: float = 1.0,
        stats: Counters | None = None,
        start: bool = True,
    ) -> None:
        self.channels = channels
        self.agents = agents
        self.learning = learning
        self.queue = queue
        self.retry_s = retry_s
        self.stats = stats if stats is not None else Counters()
        self._order = threading.Lock()
        self._backlog = queue.count() > 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hive-shared-replay", daemon=True)
        if start:
            self._thread.start()

    @property
    def pending(self) -> int:
        """Writes waiting in the local queue."""
        return self.queue.count()

    def submit(
        self, op: str, tenant: str, dedupe: str, body: str, direct: Callable[[], T], *, replace: bool = False
    ) -> T | None:
        """Run ``direct`` (the write on the shared back-end) now, or queue ``body``.

        Returns:
            What ``direct`` returned, or ``None`` when the write was queued.

        Raises:
            HiveStorageError: the back-end refused it for a reason other than being
                unreachable, or the queue is full (nothing was stored).
        """
        with self._order:
            if not self._backlog:
                try:
                    return direct()
                except HiveStorageError as exc:
                    if not is_unavailable(exc):
                        raise
                    _log.warning("shared back-end unreachable; queueing writes locally: %s", exc)
            try:
                self.queue.put(op, tenant, dedupe, body, replace=replace)
            except HiveStorageError:
                self.stats.add("hivemind.refused")
                raise
            self._backlog = True
            self.stats.add("hivemind.queued")
        return None

    def _apply(self, op: str, tenant: str, body: str) -> None:
        if op == "publish":
            self.channels.append(ChannelEvent.from_body(body, None))
        elif op == "create":
            data = json.loads(body)
            self.channels.create(tenant, data["name"], data["description"], data["created_at"])
        elif op == "beat":
            self.agents.beat(tenant, AgentBeat.from_body(body))
        elif op == "learn":
            self.learning.append(tenant, LearningStep.from_body(body))
        else:  # pragma: no cover - rows are written by this module only
            raise HiveStorageError(f"unknown queued operation {op!r} in {self.queue.path}", op=op)

    def flush(self) -> int:
        """Replay the queue now, oldest first, until it is empty or the back-end fails.

        Returns:
            Rows stored by the back-end in this call.
        """
        done = 0
        while True:
            rows = self.queue.peek(_FLUSH_BATCH)
            if not rows:
                with self._order:
                    if self.queue.count() == 0:
                        self._backlog = False
                        return done
                continue
            for row in rows:
                try:
                    self._apply(row.op, row.tenant, row.body)
                except HiveStorageError as exc:
                    if not is_unavailable(exc):
                        self.stats.add("hivemind.flush_failed")
                        _log.error("queued shared write %s failed; it stays queued: %s", row.seq, exc)
                    return done
                self.queue.delete(row.seq)
                self.stats.add("hivemind.flushed")
                done += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._backlog:
                try:
                    self.flush()
                except Exception:  # the replay thread must outlive a failing row
                    _log.exception("replaying queued shared writes failed; retrying")
            self._stop.wait(self.retry_s)

    def close(self) -> None:
        """Stop the replay thread (queued rows stay on disk for the next start) and close the queue."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        self.queue.close()


class FallbackChannelLog:
    """A :class:`~hive_middleware.hivemind.ports.ChannelLog` whose writes go through a :class:`Reconciler`.

    Reads go to the shared log (and raise while it is unreachable). A queued
    publish returns the event with ``cursor=None``.
    """

    def __init__(self, reconciler: Reconciler) -> None:
        self._r = reconciler

    def create(self, tenant: str, name: str, description: str, created_at: float) -> ChannelInfo:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        body = json.dumps({"name": name, "description": description, "created_at": created_at})
        stored = self._r.submit(
            "create",
            tenant,
            f"create:{tenant}:{name}:{created_at!r}",
            body,
            lambda: self._r.channels.create(tenant, name, description, created_at),
        )
        return stored or ChannelInfo(tenant, name, description, from_epoch(created_at))

    def channels(self, tenant: str) -> list[ChannelInfo]:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        return self._r.channels.channels(tenant)

    def append(self, event: ChannelEvent) -> ChannelEvent:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        dedupe = f"publish:{event.tenant}:{event.channel}:{event.event_id}"
        stored = self._r.submit(
            "publish", event.tenant, dedupe, event.to_body(), lambda: self._r.channels.append(event)
        )
        return stored or event

    def read(
        self, tenant: str, channel: str, after: str | None, limit: int, wait_s: float = 0.0
    ) -> list[ChannelEvent]:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        return self._r.channels.read(tenant, channel, after, limit, wait_s)

    def last_cursor(self, tenant: str, channel: str) -> str | None:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        return self._r.channels.last_cursor(tenant, channel)

    def close(self) -> None:
        """Nothing to close here (the reconciler owns the back-ends)."""


class FallbackAgentRegistry:
    """A :class:`~hive_middleware.hivemind.ports.AgentRegistry` whose beats go through a :class:`Reconciler`."""

    def __init__(self, reconciler: Reconciler) -> None:
        self._r = reconciler

    def beat(self, tenant: str, beat: AgentBeat) -> None:
        """See :class:`~hive_middleware.hivemind.ports.AgentRegistry`.

        Only the newest queued beat of an agent is kept, but a beat carrying meta
        is never replaced by one without (the meta would be lost).
        """
        dedupe = f"beat:{tenant}:{beat.agent}" + ("" if beat.meta is None else f":{beat.seen_at!r}")
        self._r.submit("beat", tenant, dedupe, beat.to_body(), lambda: self._r.agents.beat(tenant, beat), replace=True)

    def agents(self, tenant: str) -> list[AgentRecord]:
        """See :class:`~hive_middleware.hivemind.ports.AgentRegistry`."""
        return self._r.agents.agents(tenant)

    def close(self) -> None:
        """Nothing to close here (the reconciler owns the back-ends)."""


class FallbackLearningLog:
    """A :class:`~hive_middleware.hivemind.ports.LearningLog` whose appends go through a :class:`Reconciler`.

    A queued step is returned with ``cursor=None``.
    """

    def __init__(self, reconciler: Reconciler) -> None:
        self._r = reconciler

    def append(self, tenant: str, step: LearningStep) -> LearnedStep:
        """See :class:`~hive_middleware.hivemind.ports.LearningLog`."""
        stored = self._r.submit(
            "learn", tenant, f"learn:{tenant}:{step.step_id}", step.to_body(), lambda: self._r.learning.append(tenant, step)
        )
        return stored or LearnedStep(step=step, cursor=None)

    def read(self, tenant: str, after: str | None, limit: int) -> list[LearnedStep]:
        """See :class:`~hive_middleware.hivemind.ports.LearningLog`."""
        return self._r.learning.read(tenant, after, limit)

    def close(self) -> None:
        """Nothing to close here (the reconciler owns the back-ends)."""
