"""Encryption at rest on the real embedded stack (SQLite graph + embedded Chroma).

With ``memory.encryption_key_env`` set, memories whose every part carries a
distinctive word are written, indexed and closed; then every byte of every file
under the data directory (the SQLite database, its -wal/-shm files, Chroma's
files) is searched for those words. The same writes without encryption leave
the words on disk, which shows the scan finds them when they are there.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

import pytest

from hive_middleware.errors import HiveConfigError, HiveCorruptionError
from hive_middleware.memory.writes import AddEdges
from hive_middleware.stack import HiveStack
from hive_middleware.types import EdgeKind

KEY_ENV = "SEALING_TEST_KEY"
# One made-up word per place memory text lands: content, metadata["context"], another
# metadata field, a supersede reason, a forget reason, an edge's metadata.
CONTENT, CONTEXT, NOTE, REASON, FORGOTTEN, EDGE = (
    "zanzibarquokka",
    "xylophoneflamingo",
    "vermilionpangolin",
    "marmaladeheron",
    "quetzalmandolin",
    "tangerinewombat",
)
MARKERS = (CONTENT, CONTEXT, NOTE, REASON, FORGOTTEN, EDGE)
VAULT_NOW = f"The vault code changed to {CONTENT}-two at the Porto office"
ONLY = {"bm25": 0.0, "vector": 0.0, "graph": 0.0, "recency": 0.0, "author": 0.0, "date": 0.0}


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _stack(data_dir: Path, *, sealed: bool) -> HiveStack:
    memory: dict[str, object] = {"embedder": "hashing"}
    if sealed:
        memory["encryption_key_env"] = KEY_ENV
    return HiveStack.from_config(data_dir=str(data_dir), tenant="acme", memory=memory)


def _write(stack: HiveStack) -> dict[str, str]:
    memory = stack.memory
    first = stack.remember(
        f"The vault code is {CONTENT}, kept in the Lisbon office",
        key="vault",
        metadata={"author": "Ana", "context": f"Where is the {CONTEXT} kept?", "note": f"ask {NOTE}"},
    )
    memory.supersede("vault", VAULT_NOW, reason=f"moved after the {REASON} audit")
    report, lunch = stack.remember_many(
        [
            {"content": f"The quarterly report quotes {FORGOTTEN} figures", "key": "report"},
            {"content": f"Lunch was {EDGE} soup", "caused_by": [first.id]},
        ]
    )
    memory.forget("report", f"retracted: the {FORGOTTEN} numbers were wrong")
    memory.graph.commit(
        [AddEdges("acme", ((lunch.id, EdgeKind.RELATED_TO, report.id),), metadata={"reason": f"{EDGE} link"})],
        memory.clock,
    )
    assert memory.flush(60)
    return {"first": first.id, "report": report.id, "lunch": lunch.id}


def _scan(data_dir: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Every file under ``data_dir`` and, per file, the markers its bytes hold (any case)."""
    files, leaks = [], {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        name = path.relative_to(data_dir).as_posix()
        files.append(name)
        data = path.read_bytes().lower()
        hits = [m for m in MARKERS if m.encode() in data]
        if hits:
            leaks[name] = hits
    return files, leaks


def test_sealed_store_keeps_no_plaintext_on_disk_and_reads_it_all_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, _key())
    stack = _stack(tmp_path, sealed=True)
    ids = _write(stack)
    open_files, open_leaks = _scan(tmp_path)  # while the WAL is live
    stack.close()
    closed_files, closed_leaks = _scan(tmp_path)

    assert open_leaks == {} and closed_leaks == {}
    scanned = set(open_files) | set(closed_files)
    assert {"graph.sqlite3", "graph.sqlite3-wal", "chroma/chroma.sqlite3"} <= scanned
    assert any(name.startswith("chroma/") and name.endswith(".bin") for name in scanned)  # the vectors

    stack = _stack(tmp_path, sealed=True)
    try:
        current = stack.recall("vault")
        assert current is not None and current.content == VAULT_NOW
        assert current.metadata == {"author": "Ana", "context": f"Where is the {CONTEXT} kept?", "note": f"ask {NOTE}"}
        versions = stack.memory.history("vault")
        assert [v.record.content for v in versions] == [f"The vault code is {CONTENT}, kept in the Lisbon office", VAULT_NOW]
        assert versions[1].reason == f"moved after the {REASON} audit"
        assert stack.memory.history("report")[0].expired_reason == f"retracted: the {FORGOTTEN} numbers were wrong"
        edges = stack.memory.graph.edges("acme", ids["lunch"])
        assert {(e.kind, e.dst, e.metadata.get("reason")) for e in edges} == {
            (EdgeKind.CAUSED_BY, ids["first"], None),
            (EdgeKind.RELATED_TO, ids["report"], f"{EDGE} link"),
        }

        keyword = stack.memory.search(f"which code is {CONTENT}?", weights={**ONLY, "bm25": 1.0})
        assert keyword[0].record.content == VAULT_NOW and "bm25" in keyword[0].signals
        by_context = stack.memory.search(CONTEXT, weights={**ONLY, "bm25": 1.0})
        assert [r.record.content for r in by_context] == [VAULT_NOW]
        stemmed = stack.memory.search("offices", weights={**ONLY, "bm25": 1.0})  # "office" in the content
        assert stemmed and stemmed[0].record.content == VAULT_NOW
        vector = stack.memory.search("vault code changed Porto office", weights={**ONLY, "vector": 1.0})
        assert vector[0].record.content == VAULT_NOW and vector[0].signals == ("vector",)
    finally:
        stack.close()


def test_the_same_writes_unsealed_leave_every_word_on_disk(tmp_path: Path) -> None:
    stack = _stack(tmp_path, sealed=False)
    _write(stack)
    stack.close()
    _, leaks = _scan(tmp_path)
    assert set(leaks["graph.sqlite3"]) | set(leaks.get("graph.sqlite3-wal", [])) == set(MARKERS)
    assert not any(name.startswith("chroma/") for name in leaks)  # Chroma holds ids and vectors only


def test_a_sealed_store_refuses_a_wrong_missing_or_absent_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, _key())
    stack = _stack(tmp_path, sealed=True)
    stack.remember(f"The vault code is {CONTENT}", key="vault")
    stack.close()

    monkeypatch.setenv(KEY_ENV, _key())
    with pytest.raises(HiveConfigError, match=f"the key in {KEY_ENV} does not open the sealed memory in sqlite:///"):
        _ = _stack(tmp_path, sealed=True).memory
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(HiveConfigError, match=f"{KEY_ENV}, which is not set"):
        _ = _stack(tmp_path, sealed=True).memory
    monkeypatch.setenv(KEY_ENV, "c2hvcnQ=")
    with pytest.raises(HiveConfigError, match=f"{KEY_ENV} decodes to 5 bytes, not 32"):
        _ = _stack(tmp_path, sealed=True).memory
    with pytest.raises(HiveConfigError, match=r"is sealed; set memory\.encryption_key_env"):
        _ = _stack(tmp_path, sealed=False).memory


def test_a_row_copied_to_another_tenant_does_not_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, _key())
    stack = _stack(tmp_path, sealed=True)
    stack.remember(f"acme's vault code is {CONTENT}", key="vault")
    stack.close()
    with sqlite3.connect(tmp_path / "graph.sqlite3") as db:
        db.execute(
            "INSERT INTO records (id, tenant, namespace, key, kind, content, metadata, confidence, trust, tags, "
            "recorded_at) SELECT 'copied', 'globex', '[\"globex\"]', key, kind, content, metadata, confidence, "
            "trust, tags, recorded_at + 1 FROM records WHERE tenant = 'acme'"
        )
    db.close()
    stack = _stack(tmp_path, sealed=True)
    try:
        assert stack.recall("vault") is not None
        with pytest.raises(HiveCorruptionError, match="record copied of tenant 'globex' does not open"):
            stack.recall("vault", namespace=("globex",))
    finally:
        stack.close()


def test_rows_written_before_sealing_stay_readable_and_searchable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _stack(tmp_path, sealed=False)
    stack.remember(f"Before sealing the {NOTE} was blue", key="before")
    stack.close()

    monkeypatch.setenv(KEY_ENV, _key())
    stack = _stack(tmp_path, sealed=True)
    try:
        stack.remember(f"After sealing the {CONTENT} was green", key="after")
        assert stack.memory.flush(60)
        before, after = stack.recall("before"), stack.recall("after")
        assert before is not None and before.content == f"Before sealing the {NOTE} was blue"
        assert after is not None and after.content == f"After sealing the {CONTENT} was green"
        for word, key in ((NOTE, "before"), (CONTENT, "after")):
            hits = stack.memory.search(word, weights={**ONLY, "bm25": 1.0})
            assert [h.record.key for h in hits] == [key]
    finally:
        stack.close()
    _, leaks = _scan(tmp_path)
    assert CONTENT not in {m for hits in leaks.values() for m in hits}
    assert NOTE in leaks["graph.sqlite3"]  # the older row is as it was written
