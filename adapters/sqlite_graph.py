"""GraphStore on SQLite: records, edges, BM25 keyword index and embedding outbox in one file.

Layout (one database, ``<data_dir>/graph.sqlite3``):

* ``records``: one row per record version, ``tenant`` on every row and first in
  every index; a partial unique index on ``(tenant, namespace, key) WHERE
  expired_at IS NULL`` makes "one current version per key" a database invariant.
* ``records_fts``: an FTS5 external-content table over ``records.content`` and
  ``metadata.context`` (through the view ``records_text``; porter stemming),
  written in the same transaction as the record, so keyword search finds a
  record the moment ``commit`` returns. BM25 weighs a context match
  ``KEYWORD_CONTEXT_WEIGHT`` of a content match. A store written before the
  context column is re-indexed once, in one transaction, when it is opened.
* ``edges``: ``(tenant, src, kind, dst)``, walked with recursive CTEs.
* ``outbox``: records waiting for their embedding; leased by workers.
* ``meta``: the largest HLC stamp ever handed out (the cross-process clock floor).

Durability and concurrency: WAL journal; ``synchronous=NORMAL`` by default, so an
acknowledged commit survives a killed process (the WAL is in the OS page cache)
but not a power cut; pass ``synchronous="FULL"`` for that. Every write runs in
``BEGIN IMMEDIATE`` with a busy timeout, so writers in several threads and
processes queue instead of failing. One connection per thread (and per process
after a fork).

``change_stamp`` reads an 8-byte memory-mapped file that each commit overwrites
with its (unique) HLC stamp after the transaction commits; other processes see
the new value at once, which is what lets the memory store cache current
versions safely.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import mmap
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from hive_middleware.errors import (
    HiveNotFoundError,
    HiveStorageError,
    HiveTenantError,
    HiveUsageError,
    HiveValidationError,
)
from hive_middleware.memory.clock import HybridClock, hlc_to_datetime
from hive_middleware.memory.keyword_terms import STOPWORDS
from hive_middleware.memory.records import EMBEDDED_CONTEXT_CHARS, KEYWORD_CONTEXT_WEIGHT, context_text
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
from hive_middleware.ports import TraverseDirection
from hive_middleware.types import Edge, EdgeKind, MemoryKind, MemoryRecord

__all__ = ["SQLiteGraphStore", "fts_query"]

DB_FILE = "graph.sqlite3"
STAMP_FILE = "change.stamp"
_BUSY_TIMEOUT_MS = 30_000
_CHECKPOINT_EVERY_S = 0.5
_CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024
_log = logging.getLogger(__name__)


def _context_sql(metadata: str) -> str:
    """memory.records.context_text in SQL, for the metadata column named ``metadata``."""
    return f"CASE WHEN json_type({metadata}, '$.context') = 'text' THEN json_extract({metadata}, '$.context') ELSE '' END"


# The keyword index: FTS5 over each record's content and metadata.context (read through a view).
_KEYWORD_INDEX = f"""
CREATE VIEW IF NOT EXISTS records_text(seq, content, context) AS
    SELECT seq, content, {_context_sql("metadata")} FROM records;
CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(
    content, context, content='records_text', content_rowid='seq', tokenize='porter unicode61'
);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(name, value) VALUES ('hlc', 0);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    namespace TEXT NOT NULL,
    key TEXT,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    confidence REAL NOT NULL,
    trust REAL NOT NULL,
    tags TEXT NOT NULL,
    valid_from TEXT,
    valid_to TEXT,
    recorded_at INTEGER NOT NULL,
    expired_at INTEGER,
    reason TEXT,
    expired_reason TEXT,
    superseded_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS records_current_key
    ON records(tenant, namespace, key) WHERE key IS NOT NULL AND expired_at IS NULL;
CREATE INDEX IF NOT EXISTS records_key_versions ON records(tenant, key, namespace, recorded_at);
CREATE INDEX IF NOT EXISTS records_tenant_time ON records(tenant, recorded_at);
""" + _KEYWORD_INDEX + """
CREATE TABLE IF NOT EXISTS edges (
    tenant TEXT NOT NULL,
    src TEXT NOT NULL,
    kind TEXT NOT NULL,
    dst TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (tenant, src, kind, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges(tenant, dst, kind);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    record_id TEXT NOT NULL,
    claimed_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_by_tenant ON outbox(tenant);
CREATE TABLE IF NOT EXISTS authors (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
"""

# The context column of records_fts for a records row ``r`` (as the records_text view reads it).
_FTS_CONTEXT = _context_sql("r.metadata")

# memory.records.embedding_text in SQL: the content, then the start of metadata.context on the next line.
_EMBEDDING_TEXT = (
    f"CASE WHEN {_FTS_CONTEXT} <> '' THEN r.content || char(10) || substr({_FTS_CONTEXT}, 1, "
    f"{EMBEDDED_CONTEXT_CHARS}) ELSE r.content END"
)

# Authors of the records written since ``seq`` (the same window as the FTS insert).
_NEW_AUTHORS = (
    "INSERT OR IGNORE INTO authors(tenant, name) SELECT tenant, json_extract(metadata, '$.author') FROM records "
    "WHERE seq > ? AND json_type(metadata, '$.author') = 'text'"
)

_COLUMNS = (
    "id, tenant, namespace, key, kind, content, metadata, confidence, trust, tags, "
    "valid_from, valid_to, recorded_at, expired_at"
)

_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """Turn free text into a safe FTS5 query: its distinct words, quoted, OR-ed.

    Stopwords are dropped unless nothing else is left. Returns ``""`` when the
    text has no words.
    """
    words: list[str] = []
    for word in _TOKEN.findall(text.lower()):
        if word not in words:
            words.append(word)
    kept = [w for w in words if w not in STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in kept)


@functools.lru_cache(maxsize=4096)
def _ns_text(namespace: tuple[str, ...]) -> str:
    return json.dumps(list(namespace), separators=(",", ":"), ensure_ascii=False)


def _ns(namespace: Sequence[str]) -> str:
    # Compact JSON so equal namespaces always serialise to the same string.
    return _ns_text(tuple(namespace))


def _json_or_empty(value: Any, empty: str) -> str:
    return json.dumps(value) if value else empty


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@functools.lru_cache(maxsize=4096)
def _str_tuple(text: str) -> tuple[str, ...]:
    """A stored JSON list of strings (namespace, tags) as a tuple; the few distinct ones are cached."""
    return tuple(json.loads(text))


def _record_from_row(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        namespace=_str_tuple(row[2]),
        kind=MemoryKind(row[4]),
        content=row[5],
        recorded_at=row[12],
        key=row[3],
        metadata=json.loads(row[6]),
        confidence=row[7],
        trust=row[8],
        tags=_str_tuple(row[9]),
        valid_from=_from_iso(row[10]),
        valid_to=_from_iso(row[11]),
        expired_at=row[13],
    )


class SQLiteGraphStore:
    """The embedded :class:`~hive_middleware.ports.GraphStore` (see the module docstring).

    Args:
        directory: Data directory; created if missing.
        synchronous: ``"NORMAL"`` (survives process crashes) or ``"FULL"``
            (also survives power loss, one fsync per commit).
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise HiveUsageError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HiveStorageError(
                f"cannot create the data directory {self.directory}: {exc}", path=str(self.directory)
            ) from exc
        self.path = self.directory / DB_FILE
        self._synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        conn = self._conn()
        try:
            had_authors = (
                conn.execute("SELECT 1 FROM sqlite_master WHERE name='authors'").fetchone() is not None
            )
            self._migrate_keyword_index(conn)
            conn.executescript(_SCHEMA)
            if not had_authors:
                # A store written before the authors table existed: index its records' authors once.
                with conn:
                    conn.execute(_NEW_AUTHORS, (0,))
        except sqlite3.Error as exc:
            raise HiveStorageError(f"cannot initialise {self.path}: {exc}", path=str(self.path)) from exc
        self._stamp_map = self._open_stamp_file()
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="hive-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    @staticmethod
    def _migrate_keyword_index(conn: sqlite3.Connection) -> None:
        """Re-index a store whose ``records_fts`` predates the context column.

        Drop, re-create and rebuild happen in one transaction (checked again inside
        it, as another process may be doing the same), so a crash leaves either the
        old index or the complete new one. The index is derived from ``records``:
        nothing is lost by rebuilding it.
        """

        def columns() -> list[str]:
            return [row[1] for row in conn.execute("PRAGMA table_info(records_fts)")]

        if not columns() or "context" in columns():
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if "context" not in columns():
                conn.execute("DROP TABLE records_fts")
                for statement in _KEYWORD_INDEX.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO records_fts(records_fts) VALUES ('rebuild')")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @classmethod
    def from_path(
        cls, directory: str | os.PathLike[str], *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> SQLiteGraphStore:
        """Open (or create) the store in ``directory``."""
        return cls(directory, synchronous=synchronous)

    # -- connections -------------------------------------------------------------------------

    def _closed_error(self) -> HiveUsageError:
        return HiveUsageError(
            f"the SQLite graph store at {self.directory} is closed; open it again with "
            "SQLiteGraphStore.from_path() (or MemoryStore.open()) before using it",
            path=str(self.path), closed=True,
        )

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise self._closed_error()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000
            )
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            # Erased rows are overwritten on disk, not just unlinked.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA cache_size=-32000")
            # Checkpoints run in a background thread (see _checkpoint_loop), not
            # inside whichever commit happens to cross the WAL threshold: that
            # commit would pay for copying and syncing the whole WAL.
            conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as exc:
            raise HiveStorageError(f"cannot open {self.path}: {exc}", path=str(self.path)) from exc
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _open_stamp_file(self) -> mmap.mmap:
        path = self.directory / STAMP_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < 8:
                os.pwrite(fd, b"\0" * 8, 0)
            return mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def _checkpoint_loop(self) -> None:
        wal = self.path.with_name(self.path.name + "-wal")
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            while not self._stop_checkpoints.wait(_CHECKPOINT_EVERY_S):
                try:
                    if wal.exists() and wal.stat().st_size > _CHECKPOINT_WAL_BYTES:
                        # PASSIVE never blocks writers or readers; frames still in
                        # use are copied on a later round.
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except (OSError, sqlite3.Error):
                    _log.warning("WAL checkpoint of %s failed; retrying later", self.path, exc_info=True)
        except sqlite3.Error:
            _log.warning("cannot open a checkpoint connection to %s", self.path, exc_info=True)
        finally:
            if conn is not None:
                conn.close()

    def change_stamp(self) -> int:
        """See :meth:`GraphStore.change_stamp`.

        Raises:
            HiveUsageError: the store is closed.
        """
        if self._closed:
            raise self._closed_error()
        return int.from_bytes(self._stamp_map[:8], "little")

    def _publish_change(self, stamp: int) -> None:
        if self._closed:
            raise self._closed_error()
        self._stamp_map[:8] = stamp.to_bytes(8, "little")

    # -- writes ------------------------------------------------------------------------------

    def commit(self, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        """See :meth:`GraphStore.commit`."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise HiveStorageError(
                f"cannot start a write on {self.path}: {exc}", path=str(self.path)
            ) from exc
        try:
            result = self._apply(conn, ops, clock)
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise HiveStorageError(f"write to {self.path} failed: {exc}", path=str(self.path)) from exc
            raise
        self._publish_change(result.stamp)
        clock.observe(result.stamp)
        return result

    def _apply(self, conn: sqlite3.Connection, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        floor: int = conn.execute("SELECT value FROM meta WHERE name='hlc'").fetchone()[0]
        row = conn.execute("SELECT max(seq) FROM records").fetchone()
        seq_before: int = row[0] or 0
        stored: list[MemoryRecord] = []
        restored = 0
        expired: list[str] = []
        plain: list[tuple[Any, ...]] = []
        outbox: list[tuple[str, str]] = []
        stamp = floor

        def flush_plain() -> None:
            if plain:
                conn.executemany(
                    f"INSERT INTO records ({_COLUMNS}, reason) VALUES ({','.join('?' * 15)})", plain
                )
                plain.clear()

        # Keys written for the first time need no per-record lookup: find the keys
        # that already have a current version in one query per namespace, and
        # send the rest through the batched insert.
        fresh_keys = self._fresh_keys(conn, ops)
        for op in ops:
            if isinstance(op, PutRecord):
                stamp = clock.tick(stamp)
                record = stamped(op.record, stamp)
                row_values = self._row(record, op.reason)
                fresh = (record.tenant, row_values[2], record.key) in fresh_keys
                if fresh:
                    fresh_keys.discard((record.tenant, row_values[2], record.key))
                if (record.key is None or fresh) and not op.links and not op.require_current:
                    plain.append(row_values)
                else:
                    flush_plain()
                    self._put_keyed(conn, op, record, row_values, expired)
                stored.append(record)
                if op.embed:
                    outbox.append((record.tenant, record.id))
            else:
                flush_plain()
                stamp = clock.tick(stamp)
                if isinstance(op, Expire):
                    expired.extend(self._expire(conn, op, stamp))
                elif isinstance(op, AddEdges):
                    self._add_edges(conn, op, stamp)
                elif isinstance(op, SetConfidence):
                    cur = conn.execute(
                        "UPDATE records SET confidence=? WHERE tenant=? AND id=?",
                        (op.confidence, op.tenant, op.record_id),
                    )
                    if cur.rowcount == 0:
                        raise HiveNotFoundError(
                            f"no record {op.record_id!r} in tenant {op.tenant!r}",
                            tenant=op.tenant,
                            key=op.record_id,
                        )
                elif isinstance(op, SetMetadata):
                    # The keyword index holds the context: when it changes, take out the old
                    # text and put in the new (a record stored by this commit is indexed below).
                    indexed = conn.execute(
                        f"SELECT r.seq, r.content, {_FTS_CONTEXT} FROM records r "
                        "WHERE r.tenant=? AND r.id=? AND r.seq <= ?",
                        (op.tenant, op.record_id, seq_before),
                    ).fetchone()
                    new_context = context_text(op.metadata)
                    if indexed is not None and indexed[2] != new_context:
                        conn.execute(
                            "INSERT INTO records_fts(records_fts, rowid, content, context) VALUES ('delete', ?, ?, ?)",
                            indexed,
                        )
                        conn.execute(
                            "INSERT INTO records_fts(rowid, content, context) VALUES (?, ?, ?)",
                            (indexed[0], indexed[1], new_context),
                        )
                    cur = conn.execute(
                        "UPDATE records SET metadata=? WHERE tenant=? AND id=?",
                        (json.dumps(dict(op.metadata)), op.tenant, op.record_id),
                    )
                    if cur.rowcount == 0:
                        raise HiveNotFoundError(
                            f"no record {op.record_id!r} in tenant {op.tenant!r}",
                            tenant=op.tenant,
                            key=op.record_id,
                        )
                    author = op.metadata.get("author")
                    if isinstance(author, str):
                        conn.execute(
                            "INSERT OR IGNORE INTO authors(tenant, name) VALUES (?, ?)", (op.tenant, author)
                        )
                elif isinstance(op, RestoreRecords):
                    restored += self._restore(conn, op, outbox)
                    stamp = max(stamp, op.max_stamp)
        flush_plain()
        if stored or restored:
            conn.execute(
                f"INSERT INTO records_fts(rowid, content, context) SELECT r.seq, r.content, {_FTS_CONTEXT} "
                "FROM records r WHERE r.seq > ?",
                (seq_before,),
            )
            conn.execute(_NEW_AUTHORS, (seq_before,))
        if outbox:
            conn.executemany("INSERT INTO outbox(tenant, record_id) VALUES (?, ?)", outbox)
        conn.execute("UPDATE meta SET value=? WHERE name='hlc'", (stamp,))
        return CommitResult(records=tuple(stored), expired=tuple(expired), stamp=stamp)

    @staticmethod
    def _row(record: MemoryRecord, reason: str | None) -> tuple[Any, ...]:
        return (
            record.id,
            record.namespace[0],
            _ns(record.namespace),
            record.key,
            record.kind.value,
            record.content,
            _json_or_empty(dict(record.metadata), "{}"),
            record.confidence,
            record.trust,
            _json_or_empty(list(record.tags), "[]"),
            _iso(record.valid_from),
            _iso(record.valid_to),
            record.recorded_at,
            None,
            reason,
        )

    @staticmethod
    def _fresh_keys(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> set[tuple[str, str, str | None]]:
        """``(tenant, namespace, key)`` of keyed puts whose key has no current version yet.

        Only for commits made of puts alone (other ops could create or close
        versions mid-commit); a key put twice in the commit is not fresh.
        """
        if not all(isinstance(op, PutRecord) for op in ops):
            return set()
        wanted: dict[tuple[str, str], list[str]] = {}
        counts: dict[tuple[str, str, str | None], int] = {}
        for op in ops:
            assert isinstance(op, PutRecord)
            rec = op.record
            if rec.key is not None:
                ns = _ns(rec.namespace)
                wanted.setdefault((rec.tenant, ns), []).append(rec.key)
                counts[(rec.tenant, ns, rec.key)] = counts.get((rec.tenant, ns, rec.key), 0) + 1
        fresh = {k for k, n in counts.items() if n == 1}
        for (tenant, ns), keys in wanted.items():
            for (key,) in conn.execute(
                "SELECT key FROM records WHERE tenant=? AND namespace=? AND expired_at IS NULL "
                "AND key IN (SELECT value FROM json_each(?))",
                (tenant, ns, json.dumps(keys)),
            ):
                fresh.discard((tenant, ns, key))
        return fresh

    def _put_keyed(
        self,
        conn: sqlite3.Connection,
        op: PutRecord,
        record: MemoryRecord,
        row_values: tuple[Any, ...],
        expired: list[str],
    ) -> None:
        tenant, stamp = record.tenant, record.recorded_at
        old_id: str | None = None
        if record.key is not None:
            found = conn.execute(
                "SELECT id FROM records WHERE tenant=? AND namespace=? AND key=? AND expired_at IS NULL",
                (tenant, row_values[2], record.key),
            ).fetchone()
            if found is None and op.require_current:
                raise HiveNotFoundError(
                    f"key {record.key!r} has no current version in tenant {tenant!r}; remember() it first",
                    tenant=tenant,
                    key=record.key,
                )
            if found is not None:
                if not op.supersede:
                    raise HiveValidationError(
                        f"key {record.key!r} already has a current version; use supersede()",
                        tenant=tenant,
                        key=record.key,
                    )
                old_id = found[0]
                closes_at = record.valid_from or hlc_to_datetime(stamp)
                conn.execute(
                    "UPDATE records SET expired_at=?, expired_reason=?, superseded_by=?, "
                    "valid_to=coalesce(valid_to, ?) WHERE id=?",
                    (stamp, "superseded", record.id, _iso(closes_at), old_id),
                )
                expired.append(old_id)
        targets = [dst for _, dst in op.links]
        if targets:
            self._require_ids(conn, tenant, targets)
        conn.execute(f"INSERT INTO records ({_COLUMNS}, reason) VALUES ({','.join('?' * 15)})", row_values)
        links = list(op.links)
        if old_id is not None:
            links.append((EdgeKind.SUPERSEDES, old_id))
        if links:
            conn.executemany(
                "INSERT OR IGNORE INTO edges(tenant, src, kind, dst, recorded_at, metadata) VALUES (?,?,?,?,?,?)",
                [(tenant, record.id, EdgeKind(kind).value, dst, stamp, "{}") for kind, dst in links],
            )

    def _restore(self, conn: sqlite3.Connection, op: RestoreRecords, outbox: list[tuple[str, str]]) -> int:
        ids = [r.id for r in op.records]
        clash = conn.execute(
            "SELECT id FROM records WHERE id IN (SELECT value FROM json_each(?)) LIMIT 5", (json.dumps(ids),)
        ).fetchall()
        if clash:
            raise HiveValidationError(
                f"cannot restore: record ids {[c[0] for c in clash]} already exist; "
                "restore into an empty store or erase the tenant first",
                ids=[c[0] for c in clash],
            )
        superseded_by = {e.dst: e.src for e in op.edges if e.kind is EdgeKind.SUPERSEDES}
        rows = []
        for record in op.records:
            if record.key is not None and record.expired_at is None:
                found = conn.execute(
                    "SELECT id FROM records WHERE tenant=? AND namespace=? AND key=? AND expired_at IS NULL",
                    (record.tenant, _ns(record.namespace), record.key),
                ).fetchone()
                if found is not None:
                    raise HiveValidationError(
                        f"cannot restore: key {record.key!r} already has a current version {found[0]!r} "
                        f"in {record.namespace!r}; erase the tenant first",
                        key=record.key,
                        tenant=record.tenant,
                    )
            values = list(self._row(record, None))[:14]  # without the trailing reason
            values[13] = record.expired_at
            replaced_by = superseded_by.get(record.id)
            expired_reason = (
                "superseded" if replaced_by is not None and record.expired_at is not None else None
            )
            rows.append((*values, expired_reason, replaced_by))
            if op.embed:
                outbox.append((record.tenant, record.id))
        conn.executemany(
            f"INSERT INTO records ({_COLUMNS}, expired_reason, superseded_by) VALUES ({','.join('?' * 16)})",
            rows,
        )
        tenant_of = {r.id: r.tenant for r in op.records}
        edge_rows = []
        for edge in op.edges:
            tenant = tenant_of.get(edge.src) or tenant_of.get(edge.dst)
            if tenant is None:
                raise HiveValidationError(
                    f"cannot restore edge {edge.src} --{edge.kind.value}--> {edge.dst}: neither end is restored",
                )
            edge_rows.append(
                (
                    tenant,
                    edge.src,
                    edge.kind.value,
                    edge.dst,
                    edge.recorded_at,
                    json.dumps(dict(edge.metadata)),
                )
            )
        for tenant in sorted({row[0] for row in edge_rows}):
            self._require_ids(
                conn, tenant, sorted({x for row in edge_rows if row[0] == tenant for x in (row[1], row[3])})
            )
        conn.executemany(
            "INSERT OR IGNORE INTO edges(tenant, src, kind, dst, recorded_at, metadata) VALUES (?,?,?,?,?,?)",
            edge_rows,
        )
        return len(rows)

    @staticmethod
    def _require_ids(conn: sqlite3.Connection, tenant: str, ids: Sequence[str]) -> None:
        wanted = set(ids)
        found = {
            r[0]
            for r in conn.execute(
                # "+tenant" keeps the planner on the id index; a tenant index scan reads every row.
                "SELECT id FROM records WHERE +tenant=? AND id IN (SELECT value FROM json_each(?))",
                (tenant, json.dumps(sorted(wanted))),
            )
        }
        missing = sorted(wanted - found)
        if missing:
            raise HiveTenantError(
                f"linked record(s) {missing[:5]} do not exist in tenant {tenant!r}; "
                "links must point at records of the same tenant",
                tenant=tenant,
                missing=missing,
            )

    def _expire(self, conn: sqlite3.Connection, op: Expire, stamp: int) -> list[str]:
        ids = list(op.record_ids)
        if op.key is not None:
            found = conn.execute(
                "SELECT id FROM records WHERE tenant=? AND namespace=? AND key=? AND expired_at IS NULL",
                (op.tenant, _ns(op.namespace), op.key),
            ).fetchone()
            if found is None:
                raise HiveNotFoundError(
                    f"key {op.key!r} has no current version in tenant {op.tenant!r}",
                    tenant=op.tenant,
                    key=op.key,
                )
            ids.append(found[0])
        done: list[str] = []
        for record_id in ids:
            cur = conn.execute(
                "UPDATE records SET expired_at=?, expired_reason=? WHERE tenant=? AND id=? AND expired_at IS NULL",
                (stamp, op.reason, op.tenant, record_id),
            )
            if cur.rowcount:
                done.append(record_id)
        return done

    def _add_edges(self, conn: sqlite3.Connection, op: AddEdges, stamp: int) -> None:
        ids = {src for src, _, _ in op.edges} | {dst for _, _, dst in op.edges}
        self._require_ids(conn, op.tenant, sorted(ids))
        meta = json.dumps(dict(op.metadata))
        conn.executemany(
            "INSERT OR IGNORE INTO edges(tenant, src, kind, dst, recorded_at, metadata) VALUES (?,?,?,?,?,?)",
            [(op.tenant, src, EdgeKind(kind).value, dst, stamp, meta) for src, kind, dst in op.edges],
        )

    # -- reads -------------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise HiveStorageError(f"read from {self.path} failed: {exc}", path=str(self.path)) from exc

    def get(self, tenant: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """See :meth:`GraphStore.get`."""
        if not ids:
            return {}
        if len(ids) == 1:
            rows = self._query(f"SELECT {_COLUMNS} FROM records WHERE id=? AND tenant=?", (ids[0], tenant))
        else:
            rows = self._query(
                # "+tenant" keeps the planner on the id index; a tenant index scan reads every row.
                f"SELECT {_COLUMNS} FROM records WHERE id IN (SELECT value FROM json_each(?)) AND +tenant=?",
                (json.dumps(list(ids)), tenant),
            )
        return {row[0]: _record_from_row(row) for row in rows}

    def current(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        """See :meth:`GraphStore.current`."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM records WHERE tenant=? AND namespace=? AND key=? AND expired_at IS NULL",
            (namespace[0], _ns(namespace), key),
        )
        return _record_from_row(rows[0]) if rows else None

    def versions(self, namespace: tuple[str, ...], key: str) -> list[Version]:
        """See :meth:`GraphStore.versions`."""
        rows = self._query(
            f"SELECT {_COLUMNS}, reason, expired_reason, superseded_by FROM records "
            "WHERE tenant=? AND key=? AND namespace=? ORDER BY recorded_at",
            (namespace[0], key, _ns(namespace)),
        )
        return [Version(_record_from_row(r), r[14], r[15], r[16]) for r in rows]

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """See :meth:`GraphStore.keyword_search`."""
        match = fts_query(query)
        if not match or k <= 0:
            return []
        rows = self._query(
            f"SELECT r.id, bm25(records_fts, 1.0, {KEYWORD_CONTEXT_WEIGHT}) AS score "
            "FROM records_fts JOIN records r ON r.seq = records_fts.rowid "
            "WHERE records_fts MATCH ? AND r.tenant = ? ORDER BY score LIMIT ?",
            (match, tenant, k),
        )
        # FTS5's bm25() is negative (more negative = better); expose a positive score.
        return [(r[0], -float(r[1])) for r in rows]

    def authors(self, tenant: str) -> frozenset[str]:
        """See :meth:`GraphStore.authors`."""
        return frozenset(r[0] for r in self._query("SELECT name FROM authors WHERE tenant=?", (tenant,)))

    def edges(self, tenant: str, record_id: str) -> list[Edge]:
        """See :meth:`GraphStore.edges`."""
        rows = self._query(
            "SELECT src, dst, kind, recorded_at, metadata FROM edges WHERE tenant=? AND src=? "
            "UNION ALL SELECT src, dst, kind, recorded_at, metadata FROM edges WHERE tenant=? AND dst=?",
            (tenant, record_id, tenant, record_id),
        )
        return [Edge(r[0], r[1], EdgeKind(r[2]), r[3], json.loads(r[4])) for r in rows]

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
        if not start or depth <= 0:
            return {}
        kind_filter = ""
        params: list[Any] = [json.dumps(list(start))]
        if kinds is not None:
            kind_filter = " AND e.kind IN (SELECT value FROM json_each(?))"
        steps: list[str] = []
        if direction in ("out", "both"):
            steps.append(
                "SELECT e.dst, w.d + 1 FROM walk w JOIN edges e ON e.tenant = ? AND e.src = w.id "
                f"WHERE w.d < ?{kind_filter}"
            )
        if direction in ("in", "both"):
            steps.append(
                "SELECT e.src, w.d + 1 FROM walk w JOIN edges e ON e.tenant = ? AND e.dst = w.id "
                f"WHERE w.d < ?{kind_filter}"
            )
        for _ in steps:
            params += [tenant, depth]
            if kinds is not None:
                params.append(json.dumps([EdgeKind(k).value for k in kinds]))
        sql = (
            "WITH RECURSIVE walk(id, d) AS (SELECT value, 0 FROM json_each(?) UNION "
            + " UNION ".join(steps)
            + ") SELECT id, min(d) FROM walk GROUP BY id"
        )
        rows = self._query(sql, params)
        starts = set(start)
        return {r[0]: r[1] for r in rows if r[0] not in starts}

    def scan(self, tenant: str, *, since: int | None = None) -> Iterator[MemoryRecord]:
        """See :meth:`GraphStore.scan`."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM records WHERE tenant=? AND recorded_at > ? ORDER BY recorded_at",
            (tenant, since if since is not None else -1),
        )
        for row in rows:
            yield _record_from_row(row)

    def tenants(self) -> list[str]:
        """See :meth:`GraphStore.tenants`."""
        return [r[0] for r in self._query("SELECT DISTINCT tenant FROM records ORDER BY tenant", ())]

    # -- outbox ------------------------------------------------------------------------------

    def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxItem]:
        """See :meth:`GraphStore.claim_outbox`."""
        conn = self._conn()
        now = time.time()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(
                    f"SELECT o.seq, o.tenant, o.record_id, {_EMBEDDING_TEXT}, o.attempts FROM outbox o "
                    "LEFT JOIN records r ON r.id = o.record_id AND r.tenant = o.tenant "
                    "WHERE o.claimed_until IS NULL OR o.claimed_until < ? ORDER BY o.seq LIMIT ?",
                    (now, limit),
                ).fetchall()
                orphans = [r[0] for r in rows if r[3] is None]
                live = [r for r in rows if r[3] is not None]
                if orphans:
                    conn.execute(
                        "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))",
                        (json.dumps(orphans),),
                    )
                if live:
                    conn.execute(
                        "UPDATE outbox SET claimed_until=?, attempts=attempts+1 "
                        "WHERE seq IN (SELECT value FROM json_each(?))",
                        (now + lease_s, json.dumps([r[0] for r in live])),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HiveStorageError(
                f"cannot claim outbox rows in {self.path}: {exc}", path=str(self.path)
            ) from exc
        return [
            OutboxItem(seq=r[0], tenant=r[1], record_id=r[2], content=r[3], attempts=r[4] + 1) for r in live
        ]

    def ack_outbox(self, items: Sequence[OutboxItem]) -> None:
        """See :meth:`GraphStore.ack_outbox`."""
        if not items:
            return
        try:
            self._conn().execute(
                "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps([i.seq for i in items]),),
            )
        except sqlite3.Error as exc:
            raise HiveStorageError(
                f"cannot acknowledge outbox rows in {self.path}: {exc}", path=str(self.path)
            ) from exc

    def outbox_pending(self) -> int:
        """See :meth:`GraphStore.outbox_pending`."""
        return int(self._query("SELECT count(*) FROM outbox", ())[0][0])

    # -- erase / close -----------------------------------------------------------------------

    def erase_tenant(self, tenant: str) -> None:
        """See :meth:`GraphStore.erase_tenant`. Also merges the FTS index and truncates the
        WAL so the erased text does not linger in index segments or old WAL frames."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO records_fts(records_fts, rowid, content, context) "
                    f"SELECT 'delete', r.seq, r.content, {_FTS_CONTEXT} FROM records r WHERE r.tenant=?",
                    (tenant,),
                )
                conn.execute("DELETE FROM records WHERE tenant=?", (tenant,))
                conn.execute("DELETE FROM edges WHERE tenant=?", (tenant,))
                conn.execute("DELETE FROM outbox WHERE tenant=?", (tenant,))
                conn.execute("DELETE FROM authors WHERE tenant=?", (tenant,))
                conn.execute("INSERT INTO records_fts(records_fts) VALUES ('optimize')")
                stamp = conn.execute("SELECT value + 1 FROM meta WHERE name='hlc'").fetchone()[0]
                conn.execute("UPDATE meta SET value=? WHERE name='hlc'", (stamp,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise HiveStorageError(
                f"cannot erase tenant {tenant!r} in {self.path}: {exc}", tenant=tenant
            ) from exc
        self._publish_change(stamp)

    def close(self) -> None:
        """Close every connection this object opened."""
        if self._closed:
            return
        self._closed = True
        self._stop_checkpoints.set()
        if self._checkpointer.is_alive() and self._checkpointer is not threading.current_thread():
            self._checkpointer.join(timeout=5)
        with self._all_lock:
            for conn in self._all:
                # A connection created in another thread may refuse; it is
                # released when that thread's objects are collected.
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._all.clear()
        # Fold the WAL into the database so the directory is compact when closed.
        with contextlib.suppress(sqlite3.Error):
            final = sqlite3.connect(self.path, isolation_level=None)
            final.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            final.execute("PRAGMA wal_checkpoint(PASSIVE)")
            final.close()
        self._stamp_map.close()
