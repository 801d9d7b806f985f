"""MemoryStore on the embedded defaults: SQLite + Chroma + the packaged MiniLM."""

from __future__ import annotations

from pathlib import Path

import pytest
from hive_middleware.adapters.chroma import ChromaVectorIndex, collection_name

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveConfigError
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder


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


# ------------------------------------------------------------------ Chroma server (HttpClient)

_V = [1.0] + [0.0] * 7


def test_unreachable_server_is_a_storage_error_naming_the_url() -> None:
    from hive_middleware.errors import HiveStorageError
    from hive_middleware.testing.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HiveStorageError, match=f"cannot reach the Chroma server at {url}"):
        ChromaVectorIndex.from_url(url, embedder_name="hashing-8")
    with pytest.raises(HiveConfigError, match="http://host:port"):
        ChromaVectorIndex.from_url("ftp://example.org", embedder_name="hashing-8")


def test_server_going_away_raises_storage_errors_and_recovers(tmp_path: Path) -> None:
    from hive_middleware.errors import HiveStorageError
    from hive_middleware.testing.servers import start_chroma

    with start_chroma(tmp_path / "server") as server:
        index = ChromaVectorIndex.from_url(server.url, embedder_name="hashing-8")
        index.upsert("acme", ["a1"], [_V])
        server.stop()
        with pytest.raises(HiveStorageError, match=f"tenant 'acme' in the Chroma server at {server.url}"):
            index.query("acme", _V, 3)
        with pytest.raises(HiveStorageError, match=server.url):
            index.upsert("globex", ["g1"], [_V])
        server.start()
        assert [hit[0] for hit in index.query("acme", _V, 3)] == ["a1"]


def test_a_tenant_erased_by_another_client_is_recreated_not_an_error(chroma_url: str) -> None:
    first = ChromaVectorIndex.from_url(chroma_url, embedder_name="hashing-8")
    second = ChromaVectorIndex.from_url(chroma_url, embedder_name="hashing-8")
    first.upsert("acme", ["a1"], [_V])
    second.upsert("acme", ["a2"], [_V])  # second now holds a cached handle of the collection
    first.delete_tenant("acme")
    assert second.query("acme", _V, 5) == []
    second.upsert("acme", ["a3"], [_V])
    assert [hit[0] for hit in first.query("acme", _V, 5)] == ["a3"]


def _server_config(data_dir: Path, chroma_url: str, graph: str = "sqlite") -> HiveConfig:
    return HiveConfig.load(
        data_dir=str(data_dir),
        tenant="acme",
        memory={"embedder": "hashing", "graph": graph, "vectors": chroma_url},
    )


def test_stack_on_a_chroma_server_embeds_and_finds_by_vector(tmp_path: Path, chroma_url: str) -> None:
    from hive_middleware.stack import HiveStack

    stack = HiveStack(_server_config(tmp_path / "data", chroma_url))
    try:
        memory = stack.memory
        assert isinstance(memory.vectors, ChromaVectorIndex)
        assert memory.worker is not None and memory.worker.is_leader  # no single-writer lock on a server
        assert not (tmp_path / "data" / "chroma").exists()
        record = stack.remember("The deploy pipeline publishes wheels to the internal index.")
        stack.remember("Lunch is at noon on Fridays.")
        assert memory.wait_indexed(60)
        hits = stack.search("deploy pipeline wheels", k=2)
        assert hits[0].record.id == record.id and "vector" in hits[0].signals
    finally:
        stack.close()
    # The vectors are on the server: a plain index over the same URL finds the record.
    index = ChromaVectorIndex.from_url(chroma_url, embedder_name="hashing-256")
    vector = HashingEmbedder().embed(["The deploy pipeline publishes wheels to the internal index."])[0]
    assert index.query("acme", vector, 1)[0][0] == record.id


def test_two_stacks_on_one_server_and_one_shared_graph_see_each_others_vectors(
    tmp_path: Path, chroma_url: str
) -> None:
    from hive_middleware.stack import HiveStack

    graph = f"sqlite://{tmp_path / 'shared-graph'}"
    first = HiveStack(_server_config(tmp_path / "one", chroma_url, graph))
    second = HiveStack(_server_config(tmp_path / "two", chroma_url, graph))
    try:
        mine = first.remember("Rotating the staging database credentials happens every Monday.")
        theirs = second.remember("The billing service retries webhooks five times.")
        # Both processes' workers run (no lock) and drain the one shared outbox.
        assert first.memory.wait_indexed(60) and second.memory.wait_indexed(60)
        assert first.memory.worker is not None and second.memory.worker is not None
        assert first.memory.worker.embedded + second.memory.worker.embedded == 2
        found_by_first = first.search("billing webhooks retries", k=1)[0]
        found_by_second = second.search("staging database credentials", k=1)[0]
        assert found_by_first.record.id == theirs.id and "vector" in found_by_first.signals
        assert found_by_second.record.id == mine.id and "vector" in found_by_second.signals
        assert not (tmp_path / "one" / "graph.sqlite3").exists()
    finally:
        first.close()
        second.close()
