"""PostgresGraphStore beyond the conformance suites: what sharing one database across processes needs.

Every test runs against a real PostgreSQL (the session's throwaway server, a fresh
database per test); "processes" are real subprocesses or stores with their own
connection pools.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from hive_middleware.adapters.postgres_graph import MIGRATIONS, PostgresGraphStore
from hive_middleware.adapters.postgres_keyword import query_words

from hive_middleware.errors import HiveConfigError, HiveStorageError, HiveUsageError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.store import MemoryStore
from hive_middleware.memory.writes import PutRecord
from hive_middleware.ports import GraphStore
from hive_middleware.testing.conformance.graph_records import make_record
from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex
from hive_middleware.testing.servers import free_port, start_postgres
from hive_middleware.types import EdgeKind

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_store(postgres_url: str) -> Iterator[list[PostgresGraphStore]]:
    """Stores opened by a test on its database (each with its own pool), closed after it."""
    opened: list[PostgresGraphStore] = []
    yield opened
    for store in opened:
        store.close()


def _store(opened: list[PostgresGraphStore], url: str) -> PostgresGraphStore:
    store = PostgresGraphStore.from_url(url, max_size=4)
    opened.append(store)
    return store


def _run_processes(script: str, url: str, n: int, timeout: float = 120) -> list[str]:
    """Start ``n`` Python processes running ``script`` (``URL`` and ``N`` defined) at once; their stdouts."""
    prelude = f"import sys\nsys.path.insert(0, {str(REPO)!r})\nURL = sys.argv[1]\nN = int(sys.argv[2])\n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", prelude + textwrap.dedent(script), url, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out.strip())
    return outs


def test_is_a_full_graph_store(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    store = _store(open_store, postgres_url)
    assert isinstance(store, GraphStore)
    assert store.applied == [version for version, _ in MIGRATIONS]


def test_migrations_apply_once_when_processes_open_at_once(postgres_url: str) -> None:
    outs = _run_processes(
        """
        import json, time
        from hive_middleware.adapters.postgres_graph import PostgresGraphStore
        time.sleep(max(0.0, float(int(time.time()) + 2 - time.time())))  # line up the opens
        store = PostgresGraphStore.from_url(URL)
        print(json.dumps(store.applied))
        store.close()
        """,
        postgres_url,
        4,
    )
    applied = [json.loads(out) for out in outs]
    assert sorted(applied, key=len) == [[], [], [], [v for v, _ in MIGRATIONS]]
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version FROM hive_schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS]


def test_migrations_apply_once_when_threads_open_at_once(
    postgres_url: str, open_store: list[PostgresGraphStore]
) -> None:
    start = threading.Barrier(6)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def opener() -> None:
        try:
            start.wait()
            store = PostgresGraphStore.from_url(postgres_url, max_size=1)
            with lock:
                open_store.append(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(len(s.applied) for s in open_store) == [0] * 5 + [len(MIGRATIONS)]


def test_processes_superseding_one_key_leave_one_current_version(postgres_url: str) -> None:
    _store([], postgres_url).close()  # schema in place, so the writers race on commits only
    _run_processes(
        """
        import time
        from hive_middleware.adapters.postgres_graph import PostgresGraphStore
        from hive_middleware.memory.clock import HybridClock
        from hive_middleware.memory.writes import PutRecord
        from hive_middleware.testing.conformance.graph_records import make_record
        store, clock = PostgresGraphStore.from_url(URL), HybridClock()
        time.sleep(max(0.0, float(int(time.time()) + 2 - time.time())))
        for i in range(15):
            store.commit([PutRecord(make_record(f"writer {N} version {i}", ("acme", "agent"), key="hot"))], clock)
        store.close()
        """,
        postgres_url,
        3,
    )
    store = PostgresGraphStore.from_url(postgres_url)
    try:
        versions = store.versions(("acme", "agent"), "hot")
        assert len(versions) == 45
        assert [v.record.expired_at is None for v in versions].count(True) == 1
        assert [v.superseded_by for v in versions[:-1]] == [v.record.id for v in versions[1:]]
        stamps = [v.record.recorded_at for v in versions]
        assert stamps == sorted(set(stamps))
        # Each version is superseded at the stamp of its successor: one chain, in stamp order.
        assert [v.record.expired_at for v in versions[:-1]] == stamps[1:]
    finally:
        store.close()


def test_two_stores_committing_one_key_concurrently(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    stores = [_store(open_store, postgres_url), _store(open_store, postgres_url)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(store: PostgresGraphStore, n: int) -> None:
        clock = HybridClock()
        try:
            start.wait()
            for i in range(10):
                store.commit([PutRecord(make_record(f"w{n}-{i}", key="k"))], clock)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(stores[n % 2], n)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for store in stores:
        versions = store.versions(("acme",), "k")
        assert len(versions) == 40 and sum(v.record.expired_at is None for v in versions) == 1


def test_stamps_increase_across_stores(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    ahead, behind = _store(open_store, postgres_url), _store(open_store, postgres_url)
    hour_ahead = HybridClock(wall_ms=lambda: int(time.time() * 1000) + 3_600_000)
    first = ahead.commit([PutRecord(make_record("from the fast machine"))], hour_ahead).stamp
    # A process whose clock is an hour behind the other still stamps after it.
    second = behind.commit([PutRecord(make_record("from the slow machine"))], HybridClock()).stamp
    assert second > first
    assert behind.change_stamp() == ahead.change_stamp() == second
    # And a store reopened later keeps the floor (it is persisted, not in memory).
    ahead.close()
    reopened = _store(open_store, postgres_url)
    assert reopened.commit([PutRecord(make_record("later"))], HybridClock()).stamp > second


def test_outbox_leases_are_shared_across_stores(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    a, b = _store(open_store, postgres_url), _store(open_store, postgres_url)
    recs = a.commit([PutRecord(make_record(f"r{i}")) for i in range(4)], HybridClock()).records
    held = a.claim_outbox(2, lease_s=0.3)
    assert [i.record_id for i in held] == [recs[0].id, recs[1].id]
    assert [i.record_id for i in b.claim_outbox(10, lease_s=60)] == [recs[2].id, recs[3].id]
    assert b.claim_outbox(10, lease_s=60) == []
    time.sleep(0.4)
    # a's worker died: its lease ran out, b resumes its rows.
    resumed = b.claim_outbox(10, lease_s=60)
    assert [i.record_id for i in resumed] == [recs[0].id, recs[1].id] and resumed[0].attempts == 2
    b.ack_outbox(resumed)
    assert a.outbox_pending() == 2


def test_commit_through_one_store_is_found_through_another(
    postgres_url: str, open_store: list[PostgresGraphStore]
) -> None:
    writer, reader = _store(open_store, postgres_url), _store(open_store, postgres_url)
    before = reader.change_stamp()
    rec = writer.commit(
        [PutRecord(replace(make_record("the flux capacitor overheated in src/flux_core.py"), metadata={"author": "Doc"}))],
        HybridClock(),
    ).records[0]
    assert reader.change_stamp() != before
    assert [rid for rid, _ in reader.keyword_search("acme", "capacitor", 5)] == [rec.id]
    # Paths and identifiers are split into their words, as the SQLite index does.
    assert [rid for rid, _ in reader.keyword_search("acme", "flux_core", 5)] == [rec.id]
    assert [rid for rid, _ in reader.keyword_search("acme", "core", 5)] == [rec.id]
    assert reader.authors("acme") == frozenset({"Doc"})
    assert reader.get("acme", [rec.id])[rec.id].content == rec.content


def test_nul_characters_and_backslashes_round_trip(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    store, clock = _store(open_store, postgres_url), HybridClock()
    odd = "bin\x00ary \\0 output\\ \\\\x"
    rec = store.commit(
        [PutRecord(replace(make_record(odd, key=odd), metadata={"author": odd, "context": odd}), reason=odd)], clock
    ).records[0]
    assert store.get("acme", [rec.id])[rec.id] == rec
    current = store.current(("acme",), odd)
    assert current is not None and current.content == odd and current.key == odd
    assert store.versions(("acme",), odd)[0].reason == odd
    assert store.authors("acme") == frozenset({odd})
    assert store.keyword_search("acme", "binary", 5) == []  # NUL splits words: "bin", "ary"
    assert [rid for rid, _ in store.keyword_search("acme", "ary", 5)] == [rec.id]
    assert store.get("acme", ["x\x00"]) == {} and store.edges("acme", "\x00") == []


def test_query_words_carry_no_tsquery_syntax() -> None:
    assert query_words("Why did the DB fail? why") == ["why", "did", "the", "db", "fail"]
    assert query_words("a&b | !c (d) 'e' \\f:* <-> g_h") == ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert query_words("¿?!  ") == []


def test_erase_tenant_really_deletes_every_row(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    store, clock = _store(open_store, postgres_url), HybridClock()
    a = store.commit([PutRecord(replace(make_record("secret"), metadata={"author": "Eve"}))], clock).records[0]
    store.commit([PutRecord(make_record("follow-up", key="k"), links=((EdgeKind.CAUSED_BY, a.id),))], clock)
    store.commit([PutRecord(make_record("kept", ("globex",)))], clock)
    store.erase_tenant("acme")
    with psycopg.connect(postgres_url) as conn:
        for table in ("hive_records", "hive_edges", "hive_outbox", "hive_authors"):
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant = 'acme'").fetchone()
            assert count == (0,), table
        assert conn.execute("SELECT count(*) FROM hive_records").fetchone() == (1,)


def test_bad_url_is_a_config_error() -> None:
    for url in ("mysql://u@h/db", "", "sqlite:///tmp/x"):
        with pytest.raises(HiveConfigError, match="not a PostgreSQL URL"):
            PostgresGraphStore.from_url(url)
    with pytest.raises(HiveConfigError, match="pool sizes"):
        PostgresGraphStore.from_url("postgresql://u@127.0.0.1/db", min_size=5, max_size=2)


def test_server_down_is_a_storage_error_naming_the_server_without_password() -> None:
    url = f"postgresql://hive:s3cret@127.0.0.1:{free_port()}/hive"
    started = time.monotonic()
    with pytest.raises(HiveStorageError, match="cannot connect to PostgreSQL at") as info:
        PostgresGraphStore.from_url(url, connect_timeout_s=2)
    assert time.monotonic() - started < 10
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_server_stopping_and_returning(tmp_path: Path, postgres_server: object) -> None:
    """A store whose server goes away raises HiveStorageError, and works again once it is back."""
    with start_postgres(tmp_path / "pg") as server:
        store = PostgresGraphStore.from_url(server.url, max_size=2, timeout=3)
        try:
            clock = HybridClock()
            kept = store.commit([PutRecord(make_record("before the outage"))], clock).records[0]
            server.stop()
            with pytest.raises(HiveStorageError):
                store.commit([PutRecord(make_record("during the outage"))], clock)
            with pytest.raises(HiveStorageError):
                store.get("acme", [kept.id])
            server.start()
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert set(store.get("acme", [kept.id])) == {kept.id}
                    break
                except HiveStorageError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            store.commit([PutRecord(make_record("after the outage"))], clock)
            assert [r.content for r in store.scan("acme")] == ["before the outage", "after the outage"]
        finally:
            store.close()
    with pytest.raises(HiveUsageError, match="closed"):
        store.get("acme", ["x"])


def test_memory_store_over_postgres(postgres_url: str, open_store: list[PostgresGraphStore]) -> None:
    """Smoke: the memory engine's own API on the shared graph store."""
    graph = _store(open_store, postgres_url)
    memory = MemoryStore(graph, InMemoryVectorIndex(), HashingEmbedder(64), namespace=("acme", "agent-1", "t1"))
    try:
        first = memory.remember("The staging database lives on db-staging-2", key="staging-db")
        memory.supersede("staging-db", "The staging database moved to db-staging-3")
        memory.index_pending()
        hits = memory.search("where is the staging database?", k=3)
        assert hits and "db-staging-3" in hits[0].record.content
        assert [v.record.content for v in memory.history("staging-db")] == [first.content, hits[0].record.content]
        other = _store(open_store, postgres_url)
        current = other.current(("acme", "agent-1", "t1"), "staging-db")
        assert current is not None and current.content.endswith("db-staging-3")
    finally:
        memory.close()
