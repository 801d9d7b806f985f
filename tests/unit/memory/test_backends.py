"""Back-ends chosen by configuration: memory.graph and memory.vectors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hive_middleware.config import HiveConfig, MemoryConfig
from hive_middleware.errors import HiveConfigError, HiveDependencyError
from hive_middleware.memory import backends
from hive_middleware.memory.backends import graph_location, open_backends, redact_url, vectors_url
from hive_middleware.memory.store import MemoryStore


def _memory(**fields: object) -> MemoryConfig:
    return HiveConfig.load(memory={"embedder": "hashing", **fields}).memory


def test_graph_locations(tmp_path: Path) -> None:
    assert graph_location("sqlite", tmp_path).directory == tmp_path
    elsewhere = graph_location(f"sqlite://{tmp_path}/graph", Path("ignored"))
    assert elsewhere.kind == "sqlite" and elsewhere.directory == tmp_path / "graph"
    for url in ("postgres://u@h:5432/db", "postgresql://u:pw@h/db"):
        located = graph_location(url, tmp_path)
        assert located.kind == "postgres" and located.url == url and located.shared and located.directory is None
    assert graph_location("postgresql://u:secret@h/db", tmp_path).describe() == "postgresql://u:***@h/db"


@pytest.mark.parametrize("bad", ["mysql://h/db", "sqlite:///", "sqlite://", "/abs/dir", "postgres://", "redis://h"])
def test_unknown_graph_forms_name_the_accepted_ones(bad: str, tmp_path: Path) -> None:
    with pytest.raises(HiveConfigError) as caught:
        graph_location(bad, tmp_path)
    assert "sqlite" in caught.value.message and caught.value.fields["key"] == "memory.graph"


def test_graph_error_hides_the_password(tmp_path: Path) -> None:
    with pytest.raises(HiveConfigError) as caught:
        graph_location("mysql://admin:hunter2@h/db", tmp_path)
    assert "hunter2" not in caught.value.message
    assert redact_url("http://h:1") == "http://h:1"


def test_vectors_url_and_its_older_spelling() -> None:
    assert vectors_url(_memory()) is None
    assert vectors_url(_memory(vectors="http://h:8000")) == "http://h:8000"
    assert vectors_url(_memory(chroma_url="https://h")) == "https://h"
    assert vectors_url(_memory(vectors="http://h:8000/", chroma_url="http://h:8000")) == "http://h:8000/"
    with pytest.raises(HiveConfigError, match="disagree"):
        vectors_url(_memory(vectors="http://a:8000", chroma_url="http://b:8000"))
    for bad in ("ftp://h", "/some/dir", "http://", "http://h:notaport"):
        with pytest.raises(HiveConfigError, match="http://host:port"):
            vectors_url(_memory(vectors=bad))
    with pytest.raises(HiveConfigError, match="vector_index='chroma'"):
        vectors_url(_memory(vectors="http://h:8000", vector_index="memory"))


def test_bad_vectors_fail_before_anything_is_opened(tmp_path: Path) -> None:
    with pytest.raises(HiveConfigError):
        open_backends(tmp_path / "data", _memory(vectors="gopher://h"))
    assert not (tmp_path / "data").exists()


def test_sqlite_dir_holds_the_graph_and_its_embedded_vectors(tmp_path: Path) -> None:
    config = HiveConfig.load(
        data_dir=str(tmp_path / "data"), memory={"embedder": "hashing", "graph": f"sqlite://{tmp_path / 'g'}"}
    )
    store = MemoryStore.open(config=config, namespace=("acme",))
    try:
        record = store.remember("kept in the shared graph directory")
        assert store.wait_indexed(30)
        assert store.worker is not None and store.worker.is_leader
        assert (tmp_path / "g" / "graph.sqlite3").is_file() and (tmp_path / "g" / "chroma").is_dir()
        assert (tmp_path / "g" / "embedder.lock").exists()
        assert not (tmp_path / "data" / "graph.sqlite3").exists()
    finally:
        store.close()
    # Another data directory naming the same graph sees the record.
    other = MemoryStore.open(tmp_path / "other", config=config, namespace=("acme",))
    try:
        assert other.search("shared graph directory", k=1)[0].record.id == record.id
    finally:
        other.close()


def test_default_keeps_everything_under_the_data_dir(tmp_path: Path) -> None:
    opened = open_backends(tmp_path, _memory())
    try:
        assert opened.worker_lock == tmp_path / "embedder.lock"
        assert (tmp_path / "graph.sqlite3").is_file()
    finally:
        opened.close()


def test_vector_index_none_opens_no_vectors(tmp_path: Path) -> None:
    opened = open_backends(tmp_path, _memory(vector_index="none"))
    try:
        assert opened.vectors is None and opened.embedder is None and opened.worker_lock is None
    finally:
        opened.close()


def test_missing_driver_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An adapter module whose driver import fails the way an absent psycopg does.
    (tmp_path / "pg_adapter_without_driver.py").write_text("import psycopg\nclass Store: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(backends.GRAPH_STORES, "postgres", "pg_adapter_without_driver:Store")
    with pytest.raises(HiveDependencyError) as caught:
        open_backends(tmp_path, _memory(graph="postgresql://u@127.0.0.1:1/db"))
    assert "install hive-middleware[postgres]" in caught.value.message and "psycopg" in caught.value.message


@pytest.mark.skipif(
    importlib.util.find_spec("hive_middleware.adapters.postgres_graph") is None,
    reason="the Postgres graph adapter is not in this tree yet",
)
def test_real_postgres_adapter_without_its_driver_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    monkeypatch.delitem(sys.modules, "hive_middleware.adapters.postgres_graph", raising=False)
    with pytest.raises(HiveDependencyError) as caught:
        open_backends(tmp_path, _memory(graph="postgresql://u@127.0.0.1:1/db"))
    assert "hive-middleware[postgres]" in caught.value.message


def test_a_missing_adapter_module_is_a_dependency_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.GRAPH_STORES, "postgres", "hive_middleware.adapters.no_such_graph:Store")
    with pytest.raises(HiveDependencyError, match="not part of this installation"):
        open_backends(tmp_path, _memory(graph="postgres://u@h/db"))


@pytest.mark.skipif(
    importlib.util.find_spec("hive_middleware.adapters.postgres_graph") is None,
    reason="the Postgres graph adapter is not in this tree yet",
)
def test_postgres_graph_is_wired_by_url(tmp_path: Path, postgres_url: str) -> None:
    config = HiveConfig.load(
        data_dir=str(tmp_path / "data"), memory={"embedder": "hashing", "graph": postgres_url, "vector_index": "none"}
    )
    store = MemoryStore.open(config=config, namespace=("acme",))
    try:
        assert type(store.graph).__name__ == "PostgresGraphStore"
        record = store.remember("stored in postgres", key="where")
    finally:
        store.close()
    again = MemoryStore.open(tmp_path / "elsewhere", config=config, namespace=("acme",))
    try:
        found = again.recall("where")
        assert found is not None and found.id == record.id
        assert not (tmp_path / "data" / "graph.sqlite3").exists()
    finally:
        again.close()
