"""MemoryStore on the embedded defaults: SQLite + Chroma + the packaged MiniLM."""

from __future__ import annotations

from pathlib import Path

import pytest
from hive_middleware.adapters.chroma import ChromaVectorIndex, collection_name

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveConfigError
from hive_middleware.memory.store import MemoryStore


def test_collection_names_are_valid_and_distinct() -> None:
    names = {collection_name(t) for t in ("acme", "ACME", "a b/c", "é" * 80, "x")}
    assert len(names) == 5
    for name in names:
        assert 3 <= len(name) <= 63 and name[0].isalnum() and name[-1].isalnum()


@pytest.mark.slow
def test_minilm_vectors_find_paraphrases_and_survive_reopen(tmp_path: Path) -> None:
    cfg = HiveConfig.load(memory={"embedder": "minilm", "vector_index": "chroma"})
    store = MemoryStore.open(tmp_path, config=cfg, namespace=("acme",))
    try:
        target = store.remember("The quarterly revenue grew by twelve percent.")
        store.remember_many(
            [{"content": c} for c in ("My cat sleeps all day.", "The train to Leeds was late.", "I painted a sunrise.")]
        )
        assert store.wait_indexed(120)
        # No word in common with the target: only the vector signal can find it.
        hits = store.search("company earnings increase", k=2)
        assert hits[0].record.id == target.id and hits[0].signals == ("vector",)
    finally:
        store.close()
    # Reopened: the collection's stored embedding function is ours, and vectors persisted.
    store = MemoryStore.open(tmp_path, config=cfg, namespace=("acme",))
    try:
        assert store.search("company earnings increase", k=1)[0].record.id == target.id
        index = store.vectors
        assert isinstance(index, ChromaVectorIndex)
        # A plain client, given no embedding function, rebuilds ours from the collection config.
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False))
        col = client.get_collection(collection_name("acme"))
        assert col.configuration_json["embedding_function"]["name"] == "hive"
        assert col.query(query_texts=["earnings went up"], n_results=1)["ids"][0] == [target.id]
        store.erase_tenant("acme")
        assert index.query("acme", [0.0] * 383 + [1.0], 5) == []
        assert store.search("revenue") == []
    finally:
        store.close()


def test_reopening_with_another_embedder_is_refused(tmp_path: Path) -> None:
    first = ChromaVectorIndex.from_path(tmp_path, embedder_name="hashing-8")
    first.upsert("acme", ["r1"], [[1.0] + [0.0] * 7])
    same = ChromaVectorIndex.from_path(tmp_path, embedder_name="hashing-8")
    assert [hit[0] for hit in same.query("acme", [1.0] + [0.0] * 7, 1)] == ["r1"]
    other = ChromaVectorIndex.from_path(tmp_path, embedder_name="hashing-16")
    with pytest.raises(HiveConfigError, match="written with embedder 'hashing-8'"):
        other.query("acme", [1.0] + [0.0] * 7, 1)
    with pytest.raises(HiveConfigError, match=r"memory\.embedder='hashing-8'"):
        other.upsert("acme", ["r2"], [[0.0, 1.0] + [0.0] * 6])
    assert other.query("globex", [1.0] + [0.0] * 7, 1) == []  # a tenant with no vectors yet is fine
