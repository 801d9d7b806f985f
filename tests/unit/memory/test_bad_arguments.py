"""Bad arguments, bad snapshot paths and closed stores raise HiveError subclasses naming the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hive_middleware.adapters.chroma import ChromaVectorIndex
from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

from hive_middleware.errors import HiveCorruptionError, HiveDataError, HiveUsageError, HiveValidationError
from hive_middleware.memory.snapshot import read_summary
from hive_middleware.memory.store import MemoryStore


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tags": True}, "tags"),
        ({"tags": 5}, "tags"),
        ({"tags": {"a": 1}}, "tags"),
        ({"tags": "deploy"}, "tags"),
        ({"kinds": True}, "kinds"),
        ({"kinds": "episodic"}, "kinds"),
        ({"kinds": ["nope"]}, "kind"),
        ({"k": "3"}, "k"),
        ({"min_confidence": "high"}, "confidence"),
    ],
)
def test_search_arguments_are_validated(store: MemoryStore, kwargs: dict[str, Any], field: str) -> None:
    store.remember("the deploy failed on friday")
    with pytest.raises(HiveValidationError) as info:
        store.search("deploy", **kwargs)
    assert info.value.fields["field"] == field
    assert "such as" in info.value.message or "must" in info.value.message or "use one of" in info.value.message


def test_restore_from_a_directory_is_a_data_error(store: MemoryStore, tmp_path: Path) -> None:
    with pytest.raises(HiveDataError, match="is a directory; pass the snapshot file") as info:
        store.restore(tmp_path)
    assert info.value.fields["path"] == str(tmp_path)


def test_snapshot_into_a_directory_is_a_data_error(store: MemoryStore, tmp_path: Path) -> None:
    store.remember("x")
    with pytest.raises(HiveDataError, match="is a directory; pass a file name"):
        store.snapshot(tmp_path)


@pytest.mark.parametrize("garbage", [b"\0", b"junk appended after the snapshot", b"\xff" * 4096])
def test_snapshot_with_trailing_garbage_is_refused(store: MemoryStore, tmp_path: Path, garbage: bytes) -> None:
    store.remember("the build is green", key="build")
    path = tmp_path / "mem.hivesnap"
    store.snapshot(path)
    read_summary(path)  # intact: fine
    with path.open("ab") as fh:
        fh.write(garbage)
    with pytest.raises(HiveCorruptionError, match="unexpected bytes follow the last block"):
        read_summary(path)
    store.erase_tenant("acme")
    with pytest.raises(HiveCorruptionError):
        store.restore(path)
    assert store.recall("build") is None  # nothing written


def test_calls_on_a_closed_sqlite_graph_raise_a_closed_store_error(tmp_path: Path) -> None:
    graph = SQLiteGraphStore(tmp_path / "g")
    graph.close()
    for call in (graph.change_stamp, lambda: list(graph.scan("acme")), lambda: graph.tenants()):
        with pytest.raises(HiveUsageError, match="is closed; open it again") as info:
            call()
        assert info.value.fields["closed"] is True


def test_calls_on_a_closed_memory_store_raise_hive_errors(store: MemoryStore) -> None:
    store.remember("hello", key="k")
    store.close()
    for call in (
        lambda: store.remember("x"), lambda: store.search("hello"), lambda: store.recall("k"),
        lambda: store.history("k"), lambda: store.why("k"),
    ):
        with pytest.raises(HiveUsageError, match="closed"):
            call()


def test_calls_on_a_closed_chroma_index_raise_a_closed_store_error(tmp_path: Path) -> None:
    index = ChromaVectorIndex.from_path(tmp_path / "c", embedder_name="hashing")
    index.upsert("acme", ["a"], [[1.0, 0.0, 0.0]])
    index.close()
    for call in (
        lambda: index.query("acme", [1.0, 0.0, 0.0], 1), lambda: index.upsert("acme", ["b"], [[0.0, 1.0, 0.0]]),
        lambda: index.delete_tenant("acme"),
    ):
        with pytest.raises(HiveUsageError, match="is closed") as info:
            call()
        assert info.value.fields["closed"] is True
