"""SQLite graph store under real conditions: killed writers, concurrent threads and processes,
cross-process cache invalidation, real erasure."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
from hive_middleware.memory.writes import SetMetadata

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _config(vector_index: str) -> HiveConfig:
    return HiveConfig.load(memory={"embedder": "hashing", "vector_index": vector_index})


WRITER = """
import sys
from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
cfg = HiveConfig.load(memory={"embedder": "hashing", "vector_index": sys.argv[2]})
store = MemoryStore.open(sys.argv[1], config=cfg, namespace=("acme",))
i = 0
while True:
    rec = store.remember(f"burst record number {i} about topic {i % 7}")
    print(rec.id, flush=True)  # printed only after remember() acknowledged
    i += 1
"""


@pytest.mark.slow
def test_kill9_mid_burst_loses_no_acknowledged_record(tmp_path: Path) -> None:
    proc = _python(WRITER, str(tmp_path), "chroma")
    acked: list[str] = []
    assert proc.stdout is not None
    while len(acked) < 300:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "writer died"
        acked.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = MemoryStore.open(tmp_path, config=_config("chroma"), namespace=("acme",))
    try:
        found = store.graph.get("acme", acked)
        assert set(found) == set(acked)
        # Rows the killed writer had claimed stay leased for the worker's 60 s lease, then are resumed.
        assert store.wait_indexed(150), "outbox did not drain after restart"
        assert store.graph.outbox_pending() == 0
        assert store.vectors is not None and store.embedder is not None
        vec = store.embedder.embed([found[acked[-1]].content])[0]
        assert acked[-1] in {rid for rid, _ in store.vectors.query("acme", vec, 5)}
        hits = store.search("burst record number 299")
        assert hits[0].record.id == acked[299] and "vector" in hits[0].signals
    finally:
        store.close()


def test_threads_write_concurrently_without_loss(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path, config=_config("none"), namespace=("acme",))
    ids: list[list[str]] = [[] for _ in range(4)]

    def work(n: int) -> None:
        for i in range(150):
            if i % 10 == 0:
                ids[n].extend(r.id for r in store.remember_many([{"content": f"t{n} batch {i} {j}"} for j in range(5)]))
            else:
                ids[n].append(store.remember(f"thread {n} item {i}", key=f"k{i % 3}").id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        every = [i for chunk in ids for i in chunk]
        records = store.graph.get("acme", every)
        assert len(records) == len(every) == 4 * (135 + 15 * 5)
        stamps = [r.recorded_at for r in records.values()]
        assert len(set(stamps)) == len(stamps)
        for key in ("k0", "k1", "k2"):
            history = store.history(key)
            assert sum(v.record.expired_at is None for v in history) == 1
    finally:
        store.close()


PROC_WRITER = """
import sys
from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
cfg = HiveConfig.load(memory={"embedder": "hashing", "vector_index": "none"})
store = MemoryStore.open(sys.argv[1], config=cfg, namespace=("acme",))
tag = sys.argv[2]
for i in range(120):
    if i % 20 == 0:
        for r in store.remember_many([{"content": f"{tag} batch {i} {j}"} for j in range(10)]):
            print(r.id, r.recorded_at)
    else:
        r = store.remember(f"process {tag} item {i}", key=f"shared{i % 4}")
        print(r.id, r.recorded_at)
store.close()
"""


@pytest.mark.slow
def test_processes_write_concurrently_without_loss(tmp_path: Path) -> None:
    MemoryStore.open(tmp_path, config=_config("none")).close()  # create the schema once
    procs = [_python(PROC_WRITER, str(tmp_path), f"p{n}") for n in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    rows = [line.split() for out, _ in outputs for line in out.splitlines()]
    assert len(rows) == 3 * (114 + 6 * 10)
    store = MemoryStore.open(tmp_path, config=_config("none"), namespace=("acme",))
    try:
        records = store.graph.get("acme", [rid for rid, _ in rows])
        assert len(records) == len(rows)
        stamps = [int(s) for _, s in rows]
        assert len(set(stamps)) == len(stamps), "HLC stamps collided across processes"
        versions = 0
        for key in ("shared0", "shared1", "shared2", "shared3"):
            history = store.history(key)
            versions += len(history)
            assert sum(v.record.expired_at is None for v in history) == 1
            stamps_in_order = [v.record.recorded_at for v in history]
            assert stamps_in_order == sorted(stamps_in_order)
        assert versions == 3 * 114  # every keyed write became a version, none lost
    finally:
        store.close()


SUPERSEDER = """
import sys
from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
cfg = HiveConfig.load(memory={"embedder": "hashing", "vector_index": "none"})
store = MemoryStore.open(sys.argv[1], config=cfg, namespace=("acme",))
store.supersede("office", "the office moved to York in 2025")
store.close()
"""


def test_recall_cache_sees_writes_from_other_processes(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path, config=_config("none"), namespace=("acme",))
    try:
        store.remember("the office is in Leeds", key="office")
        assert store.recall("office").content == "the office is in Leeds"
        assert store.recall("office").content == "the office is in Leeds"  # served from the cache
        proc = _python(SUPERSEDER, str(tmp_path))
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert store.recall("office").content == "the office moved to York in 2025"
    finally:
        store.close()


def test_wal_mode_and_durability_setting(tmp_path: Path) -> None:
    for mode, expected in (("NORMAL", 1), ("FULL", 2)):
        graph = SQLiteGraphStore(tmp_path / mode, synchronous=mode)  # type: ignore[arg-type]
        conn = graph._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == expected
        graph.close()


def test_erase_tenant_leaves_no_trace_on_disk(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path, config=_config("none"), namespace=("acme",))
    secret = "zanzibar-launch-codes-7781"
    try:
        for i in range(50):
            store.remember(
                f"{secret} note {i}",
                key=f"k{i}",
                metadata={"author": "Zebulon-Quartermain", "context": "what about the Quillfeather-Ostrogoth memo"},
            )
        store.remember("globex keeps this", namespace=("globex",))
        store.erase_tenant("acme")
        assert store.search(secret) == []
        assert store.search("keeps", namespace=("globex",))[0].record.content == "globex keeps this"
    finally:
        store.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert secret.encode() not in blobs
    assert b"Zebulon-Quartermain" not in blobs
    assert b"quillfeath" not in blobs.lower()  # the context, as stored and as its stemmed index terms


def _older_store(path: Path, memories: list[tuple[str, dict[str, str] | None]], *statements: str) -> None:
    """Write ``memories``, then turn the store into what an earlier version wrote (``statements``, one transaction)."""
    store = MemoryStore.open(path, config=_config("none"), namespace=("acme",))
    try:
        for content, metadata in memories:
            store.remember(content, metadata=metadata)
    finally:
        store.close()
    conn = sqlite3.connect(path / "graph.sqlite3")
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def test_store_from_before_the_authors_table_gets_its_authors_indexed(tmp_path: Path) -> None:
    _older_store(tmp_path, [("I adopted a puppy.", {"author": "Maria"}), ("no author here", None)], "DROP TABLE authors")
    graph = SQLiteGraphStore(tmp_path)
    try:
        assert graph.authors("acme") == frozenset({"Maria"})
    finally:
        graph.close()


def _fts_integrity(path: Path) -> None:
    """FTS5's own check of the keyword index against the rows it indexes (raises if they differ)."""
    conn = sqlite3.connect(path / "graph.sqlite3")
    try:
        conn.execute("INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


def _one_column_keyword_index(path: Path) -> None:
    _older_store(  # content only in the keyword index
        path,
        [("Sure, I can mail it.", {"context": "Can you share the lasagne recipe?"}), ("The weather was fine.", None)],
        "DROP TABLE records_fts",
        "DROP VIEW records_text",
        "CREATE VIRTUAL TABLE records_fts USING fts5("
        "content, content='records', content_rowid='seq', tokenize='porter unicode61')",
        "INSERT INTO records_fts(records_fts) VALUES ('rebuild')",
    )


def test_store_from_before_the_context_column_is_reindexed_once(tmp_path: Path) -> None:
    _one_column_keyword_index(tmp_path)
    for _ in range(2):  # the second open finds the new index and leaves it alone
        graph = SQLiteGraphStore(tmp_path)
        try:
            assert [graph.get("acme", [rid])[rid].content for rid, _ in graph.keyword_search("acme", "lasagne", 5)] == [
                "Sure, I can mail it."
            ]
            assert len(graph.keyword_search("acme", "weather", 5)) == 1
        finally:
            graph.close()
        _fts_integrity(tmp_path)


def test_keyword_index_stays_consistent_through_metadata_changes_and_erase(tmp_path: Path) -> None:
    store = MemoryStore.open(tmp_path, config=_config("none"), namespace=("acme",))
    try:
        rec = store.remember("I adopted a puppy.", key="pet", metadata={"context": "Any news?"})
        for i in range(5):
            store.graph.commit(
                [SetMetadata("acme", rec.id, {"context": f"question number {i}"})], store.clock
            )
        store.remember("a second tenant's note", namespace=("globex",), metadata={"context": "news"})
        _fts_integrity(tmp_path)
        assert [h.record.id for h in store.search("number")] == [rec.id]
        assert store.search("news") == []
        store.erase_tenant("acme")
        _fts_integrity(tmp_path)
        assert store.search("news", namespace=("globex",))[0].record.content == "a second tenant's note"
    finally:
        store.close()


OPENER = """
    import sys
    from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore
    graph = SQLiteGraphStore(sys.argv[1])
    print(len(graph.keyword_search("acme", "lasagne", 5)))
    graph.close()
"""


def test_processes_opening_an_older_store_together_reindex_it_once(tmp_path: Path) -> None:
    _one_column_keyword_index(tmp_path)
    procs = [_python(OPENER, str(tmp_path)) for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == "1"
    _fts_integrity(tmp_path)
