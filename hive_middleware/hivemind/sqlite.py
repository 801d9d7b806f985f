"""The embedded, single-machine hive mind: channels, registry and learning log in one SQLite file.

Used when ``shared.redis`` is not set. The file (``data_dir/hivemind.sqlite3``,
WAL mode) is durable and shared by every process on the machine that opens the
same data directory. Delivery is a push inside one process (an append wakes the
waiting readers through a condition variable) and a poll of the file every
``poll_s`` (default 20 ms) across processes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hive_middleware.errors import HiveStorageError, HiveValidationError
from hive_middleware.hivemind.model import (
    AgentBeat,
    AgentRecord,
    ChannelEvent,
    ChannelInfo,
    LearnedStep,
    LearningStep,
    from_epoch,
)

__all__ = ["DEFAULT_POLL_S", "FILE_NAME", "SQLiteAgentRegistry", "SQLiteChannelLog", "SQLiteLearningLog"]

FILE_NAME = "hivemind.sqlite3"
DEFAULT_POLL_S = 0.02
"""How often a blocked reader looks for events other processes appended."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    tenant TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL, channel TEXT NOT NULL, event_id TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (tenant, channel, event_id)
);
CREATE INDEX IF NOT EXISTS events_by_channel ON events (tenant, channel, seq);
CREATE TABLE IF NOT EXISTS agents (
    tenant TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL, meta TEXT NOT NULL,
    last_seen REAL NOT NULL, first_seen REAL NOT NULL,
    PRIMARY KEY (tenant, agent)
);
CREATE TABLE IF NOT EXISTS learning (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL, step_id TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (tenant, step_id)
);
CREATE INDEX IF NOT EXISTS learning_by_tenant ON learning (tenant, seq);
"""


def _seq(cursor: str | None, what: str) -> int:
    if cursor is None:
        return 0
    if not isinstance(cursor, str) or not cursor.isdigit():
        raise HiveValidationError(
            f"{what} cursor {cursor!r} is not a cursor of the local hive mind; pass a cursor it returned",
            field="after",
        )
    return int(cursor)


class _Database:
    """One connection to the hive-mind file, serialised by a lock (writes are short)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise HiveStorageError(
                f"cannot open the hive-mind file {path}: {exc}; check the data directory is writable",
                path=str(path),
            ) from exc
        self.lock = threading.Lock()
        self.appended = threading.Condition()

    @contextmanager
    def _lock_free_tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; SQLite errors become :class:`HiveStorageError`."""
        with self.lock:
            try:
                with self._lock_free_tx() as conn:
                    yield conn
            except sqlite3.Error as exc:
                raise HiveStorageError(f"hive-mind file {self.path} failed: {exc}", path=str(self.path)) from exc

    def query(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        """Run a read query."""
        with self.lock:
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise HiveStorageError(f"hive-mind file {self.path} failed: {exc}", path=str(self.path)) from exc

    def notify(self) -> None:
        """Wake this process's blocked readers."""
        with self.appended:
            self.appended.notify_all()

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self._conn.close()


class SQLiteChannelLog:
    """:class:`~hive_middleware.hivemind.ports.ChannelLog` on a local SQLite file.

    Args:
        path: The database file (created if missing).
        poll_s: How often a blocked ``read`` looks for other processes' appends.
    """

    def __init__(self, path: Path, *, poll_s: float = DEFAULT_POLL_S) -> None:
        self._db = _Database(path)
        self._poll_s = poll_s

    @classmethod
    def from_path(cls, directory: Path, *, poll_s: float = DEFAULT_POLL_S) -> SQLiteChannelLog:
        """Open ``directory/hivemind.sqlite3``."""
        return cls(Path(directory) / FILE_NAME, poll_s=poll_s)

    def create(self, tenant: str, name: str, description: str, created_at: float) -> ChannelInfo:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO channels (tenant, name, description, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, name) DO UPDATE SET description = CASE WHEN excluded.description != '' "
                "THEN excluded.description ELSE channels.description END",
                (tenant, name, description, created_at),
            )
            row = conn.execute(
                "SELECT description, created_at FROM channels WHERE tenant = ? AND name = ?", (tenant, name)
            ).fetchone()
        return ChannelInfo(tenant=tenant, name=name, description=row[0], created_at=from_epoch(row[1]))

    def channels(self, tenant: str) -> list[ChannelInfo]:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        rows = self._db.query(
            "SELECT name, description, created_at FROM channels WHERE tenant = ? ORDER BY name", (tenant,)
        )
        return [
            ChannelInfo(tenant=tenant, name=str(n), description=str(d), created_at=from_epoch(float(c)))  # type: ignore[arg-type]
            for n, d, c in rows
        ]

    def append(self, event: ChannelEvent) -> ChannelEvent:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO channels (tenant, name, description, created_at) VALUES (?, ?, '', ?)",
                (event.tenant, event.channel, event.published_at.timestamp()),
            )
            conn.execute(
                "INSERT OR IGNORE INTO events (tenant, channel, event_id, body) VALUES (?, ?, ?, ?)",
                (event.tenant, event.channel, event.event_id, event.to_body()),
            )
            seq, body = conn.execute(
                "SELECT seq, body FROM events WHERE tenant = ? AND channel = ? AND event_id = ?",
                (event.tenant, event.channel, event.event_id),
            ).fetchone()
        self._db.notify()
        return ChannelEvent.from_body(body, str(seq))

    def _select(self, tenant: str, channel: str, after: int, limit: int) -> list[ChannelEvent]:
        rows = self._db.query(
            "SELECT seq, body FROM events WHERE tenant = ? AND channel = ? AND seq > ? ORDER BY seq LIMIT ?",
            (tenant, channel, after, limit),
        )
        return [ChannelEvent.from_body(str(body), str(seq)) for seq, body in rows]

    def read(
        self, tenant: str, channel: str, after: str | None, limit: int, wait_s: float = 0.0
    ) -> list[ChannelEvent]:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        start = _seq(after, "channel")
        deadline = time.monotonic() + wait_s
        while True:
            with self._db.appended:
                events = self._select(tenant, channel, start, limit)
                left = deadline - time.monotonic()
                if events or left <= 0:
                    return events
                # Woken at once by an append in this process; other processes are
                # seen at the next poll.
                self._db.appended.wait(min(self._poll_s, left))

    def last_cursor(self, tenant: str, channel: str) -> str | None:
        """See :class:`~hive_middleware.hivemind.ports.ChannelLog`."""
        rows = self._db.query("SELECT MAX(seq) FROM events WHERE tenant = ? AND channel = ?", (tenant, channel))
        return None if rows[0][0] is None else str(rows[0][0])

    def close(self) -> None:
        """Close the file."""
        self._db.close()


class SQLiteAgentRegistry:
    """:class:`~hive_middleware.hivemind.ports.AgentRegistry` on a local SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = _Database(path)

    @classmethod
    def from_path(cls, directory: Path) -> SQLiteAgentRegistry:
        """Open ``directory/hivemind.sqlite3``."""
        return cls(Path(directory) / FILE_NAME)

    def beat(self, tenant: str, beat: AgentBeat) -> None:
        """See :class:`~hive_middleware.hivemind.ports.AgentRegistry`."""
        meta = None if beat.meta is None else json.dumps(dict(beat.meta), sort_keys=True)
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO agents (tenant, agent, status, meta, last_seen, first_seen) "
                "VALUES (:tenant, :agent, :status, COALESCE(:meta, '{}'), :seen, :seen) "
                "ON CONFLICT (tenant, agent) DO UPDATE SET "
                "status = CASE WHEN :seen >= agents.last_seen THEN :status ELSE agents.status END, "
                "meta = CASE WHEN :seen >= agents.last_seen AND :meta IS NOT NULL THEN :meta ELSE agents.meta END, "
                "last_seen = MAX(agents.last_seen, :seen), first_seen = MIN(agents.first_seen, :seen)",
                {"tenant": tenant, "agent": beat.agent, "status": beat.status, "meta": meta, "seen": beat.seen_at},
            )

    def agents(self, tenant: str) -> list[AgentRecord]:
        """See :class:`~hive_middleware.hivemind.ports.AgentRegistry`."""
        rows = self._db.query(
            "SELECT agent, status, meta, last_seen, first_seen FROM agents WHERE tenant = ? "
            "ORDER BY last_seen DESC, agent",
            (tenant,),
        )
        return [
            AgentRecord(agent=str(a), status=str(s), meta=json.loads(str(m)), last_seen=float(ls), first_seen=float(fs))  # type: ignore[arg-type]
            for a, s, m, ls, fs in rows
        ]

    def close(self) -> None:
        """Close the file."""
        self._db.close()


class SQLiteLearningLog:
    """:class:`~hive_middleware.hivemind.ports.LearningLog` on a local SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = _Database(path)

    @classmethod
    def from_path(cls, directory: Path) -> SQLiteLearningLog:
        """Open ``directory/hivemind.sqlite3``."""
        return cls(Path(directory) / FILE_NAME)

    def append(self, tenant: str, step: LearningStep) -> LearnedStep:
        """See :class:`~hive_middleware.hivemind.ports.LearningLog`."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO learning (tenant, step_id, body) VALUES (?, ?, ?)",
                (tenant, step.step_id, step.to_body()),
            )
            seq, body = conn.execute(
                "SELECT seq, body FROM learning WHERE tenant = ? AND step_id = ?", (tenant, step.step_id)
            ).fetchone()
        return LearnedStep(step=LearningStep.from_body(body), cursor=str(seq))

    def read(self, tenant: str, after: str | None, limit: int) -> list[LearnedStep]:
        """See :class:`~hive_middleware.hivemind.ports.LearningLog`."""
        rows = self._db.query(
            "SELECT seq, body FROM learning WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?",
            (tenant, _seq(after, "learning"), limit),
        )
        return [LearnedStep(step=LearningStep.from_body(str(body)), cursor=str(seq)) for seq, body in rows]

    def close(self) -> None:
        """Close the file."""
        self._db.close()
