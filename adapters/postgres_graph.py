"""GraphStore on PostgreSQL: records, edges, full-text index, authors and embedding outbox.

Many processes on many machines share one database. Layout (tables prefixed ``hive_``):

* ``hive_records``: one row per record version, ``tenant`` on every row and
  first in every index; the partial unique index on ``(tenant, namespace, key)
  WHERE expired_at IS NULL`` makes "one current version per key" a database
  invariant. ``tsv`` is the keyword index: a ``tsvector`` of the content
  (weight A) and ``metadata["context"]`` (weight B), written in the record's own
  transaction (so search finds a record the moment ``commit`` returns) and
  searched through a GIN index. Contents are stored as UTF-8 ``bytea``, so any
  text (NUL characters included) comes back exactly.
* ``hive_edges``: ``(tenant, src, kind, dst)``, walked with a recursive CTE.
* ``hive_outbox``: records waiting for their embedding; workers in any process
  lease rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` on the server's clock.
* ``hive_authors``: distinct ``metadata["author"]`` values per tenant.
* ``hive_meta``: the largest HLC stamp ever handed out (the cross-process clock
  floor, which is also :meth:`PostgresGraphStore.change_stamp`).
* ``hive_schema_migrations``: applied schema versions. Opening a store applies
  the missing ones under ``pg_advisory_lock``, so processes opening the same
  database at once apply each version exactly once.

Concurrency: every commit locks the ``hive_meta`` row first (``SELECT ... FOR
UPDATE``), reads the clock floor, resolves keys, writes, and updates the floor
in the same transaction. Commits from every process are therefore serialised
(each is a few statements long) and stamps strictly increase across processes;
key resolution sees every earlier commit, so concurrent supersessions of one key
form a single chain.

Keyword search: text is split into words the way the SQLite adapter's FTS5
tokenizer does (runs of letters and digits) before PostgreSQL's ``english``
configuration stems them and drops stopwords; a query matches any of its words
and is ranked by BM25 (see :mod:`hive_middleware.adapters.postgres_keyword`; a
context match weighs ``KEYWORD_CONTEXT_WEIGHT`` of a content match). Query text
never reaches the ``tsquery`` parser as syntax: only its stemmed words do. A
query made only of stopwords finds nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hive_middleware.errors import (
    HiveConfigError,
    HiveDependencyError,
    HiveError,
    HiveNotFoundError,
    HiveStorageError,
    HiveTenantError,
    HiveUsageError,
    HiveValidationError,
)
from hive_middleware.memory.clock import HybridClock, hlc_to_datetime
from hive_middleware.memory.records import context_text, embedding_text
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

try:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise HiveDependencyError(
        "the PostgreSQL graph store needs psycopg and psycopg-pool; install hive-middleware[postgres]",
        extra="postgres",
    ) from _exc

from hive_middleware.adapters.postgres_keyword import TS_CONFIG, KeywordRanker

__all__ = ["MIGRATIONS", "PostgresGraphStore"]

_log = logging.getLogger(__name__)

# pg_advisory_lock key serialising schema migrations ("hive" in ASCII, then a version tag).
_MIGRATION_LOCK = 0x68697665_00000001

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
CREATE TABLE hive_meta (name text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO hive_meta(name, value) VALUES ('hlc', 0);
CREATE TABLE hive_records (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    tenant text NOT NULL,
    namespace text NOT NULL,
    key text,
    kind text NOT NULL,
    content bytea NOT NULL,
    metadata text NOT NULL,
    confidence double precision NOT NULL,
    trust double precision NOT NULL,
    tags text NOT NULL,
    valid_from text,
    valid_to text,
    recorded_at bigint NOT NULL,
    expired_at bigint,
    reason text,
    expired_reason text,
    superseded_by text,
    tsv tsvector NOT NULL,
    content_words integer NOT NULL,
    context_words integer NOT NULL
);
CREATE UNIQUE INDEX hive_records_current_key
    ON hive_records(tenant, namespace, key) WHERE key IS NOT NULL AND expired_at IS NULL;
CREATE INDEX hive_records_key_versions ON hive_records(tenant, key, namespace, recorded_at);
CREATE INDEX hive_records_tenant_time ON hive_records(tenant, recorded_at);
CREATE INDEX hive_records_tsv ON hive_records USING gin(tsv);
CREATE INDEX hive_records_tenant_words ON hive_records(tenant) INCLUDE (content_words, context_words);
CREATE TABLE hive_edges (
    tenant text NOT NULL,
    src text NOT NULL,
    kind text NOT NULL,
    dst text NOT NULL,
    recorded_at bigint NOT NULL,
    metadata text NOT NULL,
    PRIMARY KEY (tenant, src, kind, dst)
);
CREATE INDEX hive_edges_by_dst ON hive_edges(tenant, dst, kind);
CREATE TABLE hive_outbox (
    seq bigserial PRIMARY KEY,
    tenant text NOT NULL,
    record_id text NOT NULL,
    claimed_until double precision,
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX hive_outbox_by_tenant ON hive_outbox(tenant);
CREATE TABLE hive_authors (
    tenant text NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (tenant, name)
);
""",
    ),
)
"""``(version, SQL)`` pairs, applied in order, each once per database."""

_COLUMNS = (
    "id, tenant, namespace, key, kind, content, metadata, confidence, trust, tags, "
    "valid_from, valid_to, recorded_at, expired_at"
)
_INSERT_RECORD = (
    f"INSERT INTO hive_records ({_COLUMNS}, reason, expired_reason, superseded_by, tsv, content_words, "
    "context_words) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
    f"setweight(to_tsvector('{TS_CONFIG}', %s), 'A') || setweight(to_tsvector('{TS_CONFIG}', %s), 'B'), %s, %s)"
)
_INSERT_EDGE = (
    "INSERT INTO hive_edges(tenant, src, kind, dst, recorded_at, metadata) VALUES (%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_AUTHOR = "INSERT INTO hive_authors(tenant, name) VALUES (%s, %s) ON CONFLICT DO NOTHING"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _esc(text: str | None) -> str | None:
    """Reversible escape of text for a PostgreSQL ``text`` column, which cannot hold NUL."""
    if text is None or ("\\" not in text and "\x00" not in text):
        return text
    return text.replace("\\", "\\\\").replace("\x00", "\\0")


def _unesc(text: str | None) -> str | None:
    if text is None or "\\" not in text:
        return text
    return re.sub(r"\\(.)", lambda m: "\x00" if m.group(1) == "0" else m.group(1), text, flags=re.DOTALL)


def _ns(namespace: Sequence[str]) -> str:
    # Compact JSON (control characters escaped), so equal namespaces give equal strings.
    return json.dumps(list(namespace), separators=(",", ":"), ensure_ascii=False)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _usable_ids(ids: Sequence[str]) -> list[str]:
    # Stored ids never hold NUL, and PostgreSQL refuses such a parameter: drop them.
    return [i for i in ids if isinstance(i, str) and "\x00" not in i]


def _record_from_row(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        namespace=tuple(json.loads(row[2])),
        kind=MemoryKind(row[4]),
        content=bytes(row[5]).decode("utf-8"),
        recorded_at=row[12],
        key=_unesc(row[3]),
        metadata=json.loads(row[6]),
        confidence=row[7],
        trust=row[8],
        tags=tuple(json.loads(row[9])),
        valid_from=_from_iso(row[10]),
        valid_to=_from_iso(row[11]),
        expired_at=row[13],
    )


def _redacted(url: str) -> str:
    """``url`` without its password, for error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class PostgresGraphStore:
    """The shared :class:`~hive_middleware.ports.GraphStore` on PostgreSQL (see the module docstring).

    Args:
        pool: A ready :class:`psycopg_pool.ConnectionPool` (opened or not). Its
            connections may be in autocommit mode or not; writes run in explicit
            transactions either way.
        owns_pool: Close ``pool`` in :meth:`close` (``from_url`` sets it).
        where: How to name the database in messages (default: the pool's name).

    Raises:
        HiveStorageError: the server cannot be reached or the schema cannot be applied.
    """

    def __init__(self, pool: ConnectionPool, *, owns_pool: bool = False, where: str | None = None) -> None:
        self.pool = pool
        self._owns_pool = owns_pool
        self._where = where or f"PostgreSQL pool {pool.name!r}"
        self._closed = False
        self._ranker = KeywordRanker(self._query)
        self.applied: list[int] = self.migrate()
        """Schema versions this store applied when it opened (``[]``: already up to date)."""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        synchronous: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 10.0,
        **pool_kwargs: Any,
    ) -> PostgresGraphStore:
        """Connect to ``url`` (``postgresql://user:pass@host:port/db`` or ``postgres://...``).

        Args:
            url: libpq connection URL.
            synchronous: Accepted for parity with the SQLite store and ignored:
                PostgreSQL's own ``synchronous_commit`` setting decides durability.
            min_size: Connections the pool keeps open.
            max_size: Most connections the pool opens (threads beyond it wait).
            connect_timeout_s: How long to wait for the first connection.
            **pool_kwargs: Passed to :class:`psycopg_pool.ConnectionPool`.

        Raises:
            HiveConfigError: ``url`` is not a PostgreSQL URL or a size is invalid.
            HiveStorageError: the server cannot be reached within ``connect_timeout_s``.
        """
        del synchronous
        if not isinstance(url, str) or urlsplit(url).scheme not in ("postgres", "postgresql"):
            raise HiveConfigError(
                f"memory.graph={_redacted(str(url))!r} is not a PostgreSQL URL; "
                "use postgresql://user:password@host:port/database",
                key="memory.graph",
            )
        if not 0 <= min_size <= max_size or max_size < 1:
            raise HiveConfigError(
                f"pool sizes must satisfy 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}",
                key="memory.graph",
            )
        where = f"PostgreSQL at {_redacted(url)}"
        kwargs = {"autocommit": True, "connect_timeout": max(1, round(connect_timeout_s))}
        kwargs.update(pool_kwargs.pop("kwargs", {}) or {})
        try:
            pool = ConnectionPool(
                url, min_size=min_size, max_size=max_size, kwargs=kwargs, open=False, name="hive-graph",
                **pool_kwargs,
            )
            pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            with contextlib.suppress(Exception):
                pool.close()
            raise HiveStorageError(
                f"cannot connect to {where} within {connect_timeout_s:g} s; check that the server is running "
                "and the URL (host, port, database, user, password) is right",
                url=_redacted(url),
            ) from exc
        except (psycopg.Error, ValueError, TypeError) as exc:
            raise HiveConfigError(f"bad PostgreSQL URL or pool option for {where}: {exc}", key="memory.graph") from exc
        try:
            return cls(pool, owns_pool=True, where=where)
        except BaseException:
            pool.close()
            raise

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; psycopg and pool errors become :class:`HiveStorageError`."""
        if self._closed:
            raise HiveUsageError(
                f"the graph store on {self._where} is closed; open it again with PostgresGraphStore.from_url()",
                closed=True,
            )
        try:
            with self.pool.connection() as conn:
                yield conn
        except HiveError:
            raise
        except PoolTimeout as exc:
            raise HiveStorageError(
                f"cannot {what}: no connection to {self._where} (server down or pool exhausted): {exc}"
            ) from exc
        except psycopg.OperationalError as exc:
            # Replace the pool's other idle connections the server may have dropped too.
            with contextlib.suppress(Exception):
                self.pool.check()
            raise HiveStorageError(f"cannot {what}: {self._where} is unreachable or failed: {exc}") from exc
        except psycopg.Error as exc:
            raise HiveStorageError(f"cannot {what} on {self._where}: {exc}") from exc

    def _query(self, what: str, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        try:
            with self._connection(what) as conn:
                return conn.execute(sql, params).fetchall()
        except HiveStorageError as exc:
            # A read on a connection the server dropped (a restart, a failover) is retried
            # once on a fresh one; writes are not, as their outcome is unknown.
            if not isinstance(exc.__cause__, psycopg.OperationalError):
                raise
        with self._connection(what) as conn:
            return conn.execute(sql, params).fetchall()

    def migrate(self) -> list[int]:
        """Apply the schema versions this database lacks; returns the versions applied.

        Safe to call from many processes at once: the work runs under a session
        advisory lock and re-reads the applied versions inside it.
        """
        latest = MIGRATIONS[-1][0]
        with self._connection("apply the schema") as conn:
            if not conn.autocommit:
                conn.commit()
            # The common case (schema up to date) takes no lock.
            if self._applied(conn) and max(self._applied(conn)) >= latest:
                self._end(conn)
                return []
            self._end(conn)
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            self._end(conn)
            try:
                with conn.transaction():
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS hive_schema_migrations "
                        "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                done = set(self._applied(conn))
                self._end(conn)
                applied: list[int] = []
                for version, sql in MIGRATIONS:
                    if version in done:
                        continue
                    with conn.transaction():
                        conn.execute(sql)
                        conn.execute("INSERT INTO hive_schema_migrations(version) VALUES (%s)", (version,))
                    applied.append(version)
                    _log.info("applied graph schema version %d on %s", version, self._where)
                return applied
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
                self._end(conn)

    @staticmethod
    def _end(conn: psycopg.Connection[Any]) -> None:
        # Close the implicit transaction a statement opened on a non-autocommit connection.
        if not conn.autocommit:
            conn.commit()

    @staticmethod
    def _applied(conn: psycopg.Connection[Any]) -> list[int]:
        row = conn.execute("SELECT to_regclass('hive_schema_migrations') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            return []
        return [r[0] for r in conn.execute("SELECT version FROM hive_schema_migrations ORDER BY version")]

    # -- writes ------------------------------------------------------------------------------

    def commit(self, ops: Sequence[WriteOp], clock: HybridClock) -> CommitResult:
        """See :meth:`RecordStore.commit <hive_middleware.ports.RecordStore.commit>`."""
        with self._connection("commit a write") as conn:
            with conn.transaction():
                result = _Commit(conn, clock).apply(ops)
            self._end(conn)
        clock.observe(result.stamp)
        return result

    # -- reads -------------------------------------------------------------------------------

    def get(self, tenant: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """See :meth:`RecordStore.get <hive_middleware.ports.RecordStore.get>`."""
        wanted = _usable_ids(ids)
        if not wanted:
            return {}
        rows = self._query(
            "read records", f"SELECT {_COLUMNS} FROM hive_records WHERE id = ANY(%s) AND tenant = %s", (wanted, tenant)
        )
        return {row[0]: _record_from_row(row) for row in rows}

    def current(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        """See :meth:`RecordStore.current <hive_middleware.ports.RecordStore.current>`."""
        rows = self._query(
            "read a current version",
            f"SELECT {_COLUMNS} FROM hive_records "
            "WHERE tenant = %s AND namespace = %s AND key = %s AND expired_at IS NULL",
            (namespace[0], _ns(namespace), _esc(key)),
        )
        return _record_from_row(rows[0]) if rows else None

    def versions(self, namespace: tuple[str, ...], key: str) -> list[Version]:
        """See :meth:`RecordStore.versions <hive_middleware.ports.RecordStore.versions>`."""
        rows = self._query(
            "read versions",
            f"SELECT {_COLUMNS}, reason, expired_reason, superseded_by FROM hive_records "
            "WHERE tenant = %s AND key = %s AND namespace = %s ORDER BY recorded_at",
            (namespace[0], _esc(key), _ns(namespace)),
        )
        return [Version(_record_from_row(r), _unesc(r[14]), _unesc(r[15]), r[16]) for r in rows]

    def scan(self, tenant: str, *, since: int | None = None) -> Iterator[MemoryRecord]:
        """See :meth:`RecordStore.scan <hive_middleware.ports.RecordStore.scan>`."""
        rows = self._query(
            "scan records",
            f"SELECT {_COLUMNS} FROM hive_records WHERE tenant = %s AND recorded_at > %s ORDER BY recorded_at",
            (tenant, since if since is not None else -1),
        )
        for row in rows:
            yield _record_from_row(row)

    def tenants(self) -> list[str]:
        """See :meth:`RecordStore.tenants <hive_middleware.ports.RecordStore.tenants>`."""
        return [r[0] for r in self._query("list tenants", "SELECT DISTINCT tenant FROM hive_records ORDER BY tenant")]

    def change_stamp(self) -> int:
        """See :meth:`RecordStore.change_stamp <hive_middleware.ports.RecordStore.change_stamp>`.

        The store's clock floor: every commit and erase raises it.
        """
        return int(self._query("read the change stamp", "SELECT value FROM hive_meta WHERE name = 'hlc'")[0][0])

    def keyword_search(self, tenant: str, query: str, k: int) -> list[tuple[str, float]]:
        """See :class:`~hive_middleware.ports.KeywordSearch` (BM25 over the full-text index;
        :mod:`hive_middleware.adapters.postgres_keyword`)."""
        hits: list[tuple[str, float]] = self._ranker.search(tenant, query, k)
        return hits

    def authors(self, tenant: str) -> frozenset[str]:
        """See :class:`~hive_middleware.ports.AuthorIndex`."""
        rows = self._query("list authors", "SELECT name FROM hive_authors WHERE tenant = %s", (tenant,))
        return frozenset(_unesc(name) or "" for (name,) in rows)

    def edges(self, tenant: str, record_id: str) -> list[Edge]:
        """See :meth:`EdgeGraph.edges <hive_middleware.ports.EdgeGraph.edges>`."""
        if not _usable_ids([record_id]):
            return []
        rows = self._query(
            "read edges",
            "SELECT src, dst, kind, recorded_at, metadata FROM hive_edges WHERE tenant = %(t)s AND src = %(id)s "
            "UNION ALL SELECT src, dst, kind, recorded_at, metadata FROM hive_edges "
            "WHERE tenant = %(t)s AND dst = %(id)s AND src <> %(id)s",
            {"t": tenant, "id": record_id},
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
        """See :meth:`EdgeGraph.traverse <hive_middleware.ports.EdgeGraph.traverse>`."""
        starts = _usable_ids(start)
        if not starts or depth <= 0:
            return {}
        kind_filter = "" if kinds is None else " AND e.kind = ANY(%(kinds)s)"
        steps = []
        if direction in ("out", "both"):
            steps.append(f"SELECT e.dst AS id FROM hive_edges e WHERE e.tenant = %(t)s AND e.src = w.id{kind_filter}")
        if direction in ("in", "both"):
            steps.append(f"SELECT e.src AS id FROM hive_edges e WHERE e.tenant = %(t)s AND e.dst = w.id{kind_filter}")
        sql = (
            "WITH RECURSIVE walk(id, d) AS (SELECT unnest(%(start)s::text[]), 0 UNION "
            "SELECT n.id, w.d + 1 FROM walk w CROSS JOIN LATERAL (" + " UNION ALL ".join(steps) + ") n "
            "WHERE w.d < %(depth)s) SELECT id, min(d) FROM walk GROUP BY id"
        )
        params: dict[str, Any] = {"start": starts, "t": tenant, "depth": depth}
        if kinds is not None:
            params["kinds"] = [EdgeKind(k).value for k in kinds]
        rows = self._query("traverse edges", sql, params)
        seeds = set(starts)
        return {r[0]: r[1] for r in rows if r[0] not in seeds}

    # -- outbox ------------------------------------------------------------------------------

    def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxItem]:
        """See :class:`~hive_middleware.ports.EmbeddingOutbox`.

        Leases are timed by the server's clock, so workers on machines whose
        clocks disagree still honour each other's leases.
        """
        if limit <= 0:
            return []
        with self._connection("claim outbox rows") as conn:
            with conn.transaction():
                rows = conn.execute(
                    "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t), "
                    "picked AS (SELECT seq FROM hive_outbox, now "
                    "WHERE claimed_until IS NULL OR claimed_until < now.t ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "UPDATE hive_outbox o SET claimed_until = (SELECT t FROM now) + %s, attempts = o.attempts + 1 "
                    "FROM picked WHERE o.seq = picked.seq "
                    "RETURNING o.seq, o.tenant, o.record_id, o.attempts",
                    (limit, float(lease_s)),
                ).fetchall()
                rows.sort(key=lambda r: r[0])
                found = {
                    (r[0], r[1]): (r[2], r[3])
                    for r in conn.execute(
                        "SELECT id, tenant, content, metadata FROM hive_records WHERE id = ANY(%s)",
                        ([r[2] for r in rows],),
                    )
                } if rows else {}
                orphans = [r[0] for r in rows if (r[2], r[1]) not in found]
                if orphans:
                    conn.execute("DELETE FROM hive_outbox WHERE seq = ANY(%s)", (orphans,))
            self._end(conn)
        items = []
        for seq, tenant, record_id, attempts in rows:
            record = found.get((record_id, tenant))
            if record is not None:
                content = bytes(record[0]).decode("utf-8")
                items.append(OutboxItem(seq, tenant, record_id, embedding_text(content, json.loads(record[1])), attempts))
        return items

    def ack_outbox(self, items: Sequence[OutboxItem]) -> None:
        """See :class:`~hive_middleware.ports.EmbeddingOutbox`."""
        if items:
            with self._connection("acknowledge outbox rows") as conn:
                conn.execute("DELETE FROM hive_outbox WHERE seq = ANY(%s)", ([i.seq for i in items],))
                self._end(conn)

    def outbox_pending(self) -> int:
        """See :class:`~hive_middleware.ports.EmbeddingOutbox`."""
        return int(self._query("count outbox rows", "SELECT count(*) FROM hive_outbox")[0][0])

    # -- erase / close -----------------------------------------------------------------------

    def erase_tenant(self, tenant: str) -> None:
        """See :meth:`RecordStore.erase_tenant <hive_middleware.ports.RecordStore.erase_tenant>`.

        The rows are deleted in one transaction, then the tables are vacuumed so
        the dead row versions are reclaimed instead of lingering until autovacuum.
        """
        with self._connection(f"erase tenant {tenant!r}") as conn:
            with conn.transaction():
                conn.execute("SELECT value FROM hive_meta WHERE name = 'hlc' FOR UPDATE")
                for table in ("hive_records", "hive_edges", "hive_outbox", "hive_authors"):
                    conn.execute(f"DELETE FROM {table} WHERE tenant = %s", (tenant,))
                conn.execute("UPDATE hive_meta SET value = value + 1 WHERE name = 'hlc'")
            self._end(conn)
            self._ranker.forget(tenant)
            if conn.autocommit:
                conn.execute("VACUUM hive_records, hive_edges, hive_outbox, hive_authors")

    def close(self) -> None:
        """Close the pool when this store opened it (``from_url``); later calls raise ``HiveUsageError``."""
        if self._closed:
            return
        self._closed = True
        if self._owns_pool:
            self.pool.close()


class _Commit:
    """One commit's work inside its transaction (the meta row locked first)."""

    def __init__(self, conn: psycopg.Connection[Any], clock: HybridClock) -> None:
        self.conn = conn
        self.clock = clock
        self.expired: list[str] = []
        self.outbox: list[tuple[str, str]] = []
        self.authors: set[tuple[str, str]] = set()
        self.plain: list[tuple[Any, ...]] = []

    def apply(self, ops: Sequence[WriteOp]) -> CommitResult:
        conn = self.conn
        row = conn.execute("SELECT value FROM hive_meta WHERE name = 'hlc' FOR UPDATE").fetchone()
        stamp: int = row[0] if row else 0
        stored: list[MemoryRecord] = []
        fresh_keys = self._fresh_keys(ops)
        for op in ops:
            if isinstance(op, PutRecord):
                stamp = self.clock.tick(stamp)
                record = stamped(op.record, stamp)
                ident = (record.tenant, _ns(record.namespace), record.key)
                fresh = ident in fresh_keys
                fresh_keys.discard(ident)
                values = self._row(record, op.reason, None, None)
                if (record.key is None or fresh) and not op.links and not op.require_current:
                    self.plain.append(values)
                else:
                    self._flush()
                    self._put_keyed(op, record, values)
                stored.append(record)
                self._note(record, op.embed)
                continue
            self._flush()
            stamp = self.clock.tick(stamp)
            if isinstance(op, Expire):
                self._expire(op, stamp)
            elif isinstance(op, AddEdges):
                self._require_ids(op.tenant, sorted({x for src, _, dst in op.edges for x in (src, dst)}))
                meta = json.dumps(dict(op.metadata))
                conn.cursor().executemany(
                    _INSERT_EDGE, [(op.tenant, s, EdgeKind(k).value, d, stamp, meta) for s, k, d in op.edges]
                )
            elif isinstance(op, SetConfidence):
                cur = conn.execute(
                    "UPDATE hive_records SET confidence = %s WHERE tenant = %s AND id = %s",
                    (op.confidence, op.tenant, op.record_id),
                )
                self._found(cur.rowcount, op.tenant, op.record_id)
            elif isinstance(op, SetMetadata):
                self._set_metadata(op)
            elif isinstance(op, RestoreRecords):
                self._restore(op)
                stamp = max(stamp, op.max_stamp)
        self._flush()
        if self.authors:
            conn.cursor().executemany(_INSERT_AUTHOR, sorted(self.authors))
        if self.outbox:
            conn.cursor().executemany("INSERT INTO hive_outbox(tenant, record_id) VALUES (%s, %s)", self.outbox)
        conn.execute("UPDATE hive_meta SET value = %s WHERE name = 'hlc'", (stamp,))
        return CommitResult(records=tuple(stored), expired=tuple(self.expired), stamp=stamp)

    def _note(self, record: MemoryRecord, embed: bool) -> None:
        author = record.metadata.get("author")
        if isinstance(author, str):
            self.authors.add((record.tenant, _esc(author) or ""))
        if embed:
            self.outbox.append((record.tenant, record.id))

    @staticmethod
    def _found(rowcount: int, tenant: str, record_id: str) -> None:
        if rowcount == 0:
            raise HiveNotFoundError(f"no record {record_id!r} in tenant {tenant!r}", tenant=tenant, key=record_id)

    @staticmethod
    def _row(
        record: MemoryRecord, reason: str | None, expired_reason: str | None, superseded_by: str | None
    ) -> tuple[Any, ...]:
        content_words = _WORD.findall(record.content)
        context_words = _WORD.findall(context_text(record.metadata))
        return (
            record.id,
            record.tenant,
            _ns(record.namespace),
            _esc(record.key),
            record.kind.value,
            record.content.encode("utf-8"),
            json.dumps(dict(record.metadata)) if record.metadata else "{}",
            record.confidence,
            record.trust,
            json.dumps(list(record.tags)) if record.tags else "[]",
            _iso(record.valid_from),
            _iso(record.valid_to),
            record.recorded_at,
            record.expired_at,
            _esc(reason),
            _esc(expired_reason),
            superseded_by,
            " ".join(content_words),
            " ".join(context_words),
            len(content_words),
            len(context_words),
        )

    def _flush(self) -> None:
        if self.plain:
            self.conn.cursor().executemany(_INSERT_RECORD, self.plain)
            self.plain.clear()

    def _fresh_keys(self, ops: Sequence[WriteOp]) -> set[tuple[str, str, str | None]]:
        """``(tenant, namespace, key)`` of keyed puts whose key has no current version yet.

        Only for commits made of puts alone; a key put twice in the commit is not fresh.
        """
        if not all(isinstance(op, PutRecord) for op in ops):
            return set()
        counts: dict[tuple[str, str, str | None], int] = {}
        for op in ops:
            assert isinstance(op, PutRecord)
            if op.record.key is not None:
                ident = (op.record.tenant, _ns(op.record.namespace), op.record.key)
                counts[ident] = counts.get(ident, 0) + 1
        fresh = {ident for ident, n in counts.items() if n == 1}
        if fresh:
            rows = self.conn.execute(
                "SELECT r.tenant, r.namespace, r.key FROM hive_records r "
                "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS w(t, ns, k) "
                "ON r.tenant = w.t AND r.namespace = w.ns AND r.key = w.k WHERE r.expired_at IS NULL",
                ([f[0] for f in fresh], [f[1] for f in fresh], [_esc(f[2]) for f in fresh]),
            ).fetchall()
            for tenant, ns, key in rows:
                fresh.discard((tenant, ns, _unesc(key)))
        return fresh

    def _current_id(self, tenant: str, ns: str, key: str) -> str | None:
        row = self.conn.execute(
            "SELECT id FROM hive_records WHERE tenant = %s AND namespace = %s AND key = %s AND expired_at IS NULL",
            (tenant, ns, _esc(key)),
        ).fetchone()
        return None if row is None else str(row[0])

    def _put_keyed(self, op: PutRecord, record: MemoryRecord, values: tuple[Any, ...]) -> None:
        tenant, stamp = record.tenant, record.recorded_at
        old_id: str | None = None
        if record.key is not None:
            old_id = self._current_id(tenant, values[2], record.key)
            if old_id is None and op.require_current:
                raise HiveNotFoundError(
                    f"key {record.key!r} has no current version in tenant {tenant!r}; remember() it first",
                    tenant=tenant,
                    key=record.key,
                )
            if old_id is not None:
                if not op.supersede:
                    raise HiveValidationError(
                        f"key {record.key!r} already has a current version; use supersede()",
                        tenant=tenant,
                        key=record.key,
                    )
                closes_at = record.valid_from or hlc_to_datetime(stamp)
                self.conn.execute(
                    "UPDATE hive_records SET expired_at = %s, expired_reason = 'superseded', superseded_by = %s, "
                    "valid_to = coalesce(valid_to, %s) WHERE id = %s",
                    (stamp, record.id, _iso(closes_at), old_id),
                )
                self.expired.append(old_id)
        targets = [dst for _, dst in op.links]
        if targets:
            self._require_ids(tenant, targets)
        self.conn.execute(_INSERT_RECORD, values)
        links = [(EdgeKind(kind), dst) for kind, dst in op.links]
        if old_id is not None:
            links.append((EdgeKind.SUPERSEDES, old_id))
        if links:
            self.conn.cursor().executemany(
                _INSERT_EDGE, [(tenant, record.id, kind.value, dst, stamp, "{}") for kind, dst in links]
            )

    def _require_ids(self, tenant: str, ids: Sequence[str]) -> None:
        wanted = set(ids)
        usable = _usable_ids(sorted(wanted))
        found = {
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM hive_records WHERE id = ANY(%s) AND tenant = %s", (usable, tenant)
            )
        } if usable else set()
        missing = sorted(wanted - found)
        if missing:
            raise HiveTenantError(
                f"linked record(s) {missing[:5]} do not exist in tenant {tenant!r}; "
                "links must point at records of the same tenant",
                tenant=tenant,
                missing=missing,
            )

    def _expire(self, op: Expire, stamp: int) -> None:
        ids = _usable_ids(op.record_ids)
        if op.key is not None:
            found = self._current_id(op.tenant, _ns(op.namespace), op.key)
            if found is None:
                raise HiveNotFoundError(
                    f"key {op.key!r} has no current version in tenant {op.tenant!r}", tenant=op.tenant, key=op.key
                )
            ids.append(found)
        for record_id in ids:
            cur = self.conn.execute(
                "UPDATE hive_records SET expired_at = %s, expired_reason = %s "
                "WHERE tenant = %s AND id = %s AND expired_at IS NULL",
                (stamp, _esc(op.reason), op.tenant, record_id),
            )
            if cur.rowcount:
                self.expired.append(record_id)

    def _set_metadata(self, op: SetMetadata) -> None:
        # The content's lexemes (weight A) stay; the context's (weight B) are rebuilt.
        context_words = _WORD.findall(context_text(op.metadata))
        cur = self.conn.execute(
            "UPDATE hive_records SET metadata = %s, "
            f"tsv = ts_filter(tsv, '{{a}}') || setweight(to_tsvector('{TS_CONFIG}', %s), 'B'), context_words = %s "
            "WHERE tenant = %s AND id = %s",
            (json.dumps(dict(op.metadata)), " ".join(context_words), len(context_words), op.tenant, op.record_id),
        )
        self._found(cur.rowcount, op.tenant, op.record_id)
        author = op.metadata.get("author")
        if isinstance(author, str):
            self.authors.add((op.tenant, _esc(author) or ""))

    def _restore(self, op: RestoreRecords) -> None:
        ids = [r.id for r in op.records]
        clash = self.conn.execute("SELECT id FROM hive_records WHERE id = ANY(%s) LIMIT 5", (ids,)).fetchall()
        if clash:
            raise HiveValidationError(
                f"cannot restore: record ids {[c[0] for c in clash]} already exist; "
                "restore into an empty store or erase the tenant first",
                ids=[c[0] for c in clash],
            )
        superseded_by = {e.dst: e.src for e in op.edges if e.kind is EdgeKind.SUPERSEDES}
        rows = []
        current: set[tuple[str, str, str]] = set()
        for record in op.records:
            if record.key is not None and record.expired_at is None:
                ident = (record.tenant, _ns(record.namespace), record.key)
                found = self._current_id(*ident)
                if found is not None or ident in current:
                    raise HiveValidationError(
                        f"cannot restore: key {record.key!r} already has a current version "
                        f"in {record.namespace!r}; erase the tenant first",
                        key=record.key,
                        tenant=record.tenant,
                    )
                current.add(ident)
            replaced_by = superseded_by.get(record.id) if record.expired_at is not None else None
            rows.append(self._row(record, None, "superseded" if replaced_by else None, replaced_by))
            self._note(record, op.embed)
        if rows:
            self.conn.cursor().executemany(_INSERT_RECORD, rows)
        tenant_of = {r.id: r.tenant for r in op.records}
        edge_rows = []
        for edge in op.edges:
            tenant = tenant_of.get(edge.src) or tenant_of.get(edge.dst)
            if tenant is None:
                raise HiveValidationError(
                    f"cannot restore edge {edge.src} --{edge.kind.value}--> {edge.dst}: neither end is restored"
                )
            edge_rows.append(
                (tenant, edge.src, edge.kind.value, edge.dst, edge.recorded_at, json.dumps(dict(edge.metadata)))
            )
        for tenant in sorted({row[0] for row in edge_rows}):
            self._require_ids(tenant, sorted({x for row in edge_rows if row[0] == tenant for x in (row[1], row[3])}))
        if edge_rows:
            self.conn.cursor().executemany(_INSERT_EDGE, edge_rows)
