"""The LangGraph ``BaseStore`` contract, run against LangGraph's own ``InMemoryStore``
(to prove the suite) and against ``HiveStore`` over in-memory and SQLite Hive memory.

LangGraph publishes no importable store test-suite in its wheels, so these tests
are written from the documented contract in ``langgraph/store/base/__init__.py``
(``GetOp``, ``PutOp``, ``SearchOp``, ``ListNamespacesOp``, ``TTLConfig``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.integrations.langgraph_store import HiveStore
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveCorruptionError, HiveValidationError
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def _memory_in_memory() -> MemoryStore:
    return MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(), namespace=("acme",))


def _memory_sqlite(path: Path) -> MemoryStore:
    config = HiveConfig.load(data_dir=str(path), tenant="acme", memory={"embedder": "hashing"})
    return MemoryStore.open(path, config=config)


@pytest.fixture(params=["langgraph-inmemory", "hive-inmemory", "hive-sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    if request.param == "langgraph-inmemory":
        yield InMemoryStore()
        return
    memory = _memory_in_memory() if request.param == "hive-inmemory" else _memory_sqlite(tmp_path / "hive")
    hive = HiveStore(memory)
    yield hive
    hive.close()
    memory.close()


def _flush(store: BaseStore) -> None:
    if isinstance(store, HiveStore):
        store.memory.wait_indexed(10)


# -- get / put / delete ----------------------------------------------------------


def test_put_then_get_returns_the_value_and_timestamps(store: BaseStore) -> None:
    store.put(("users", "u1"), "prefs", {"theme": "dark", "n": 1, "nested": {"a": [1, 2]}})
    item = store.get(("users", "u1"), "prefs")
    assert item is not None
    assert item.value == {"theme": "dark", "n": 1, "nested": {"a": [1, 2]}}
    assert item.key == "prefs" and item.namespace == ("users", "u1")
    assert item.created_at.tzinfo is not None and item.created_at <= item.updated_at


def test_missing_item_is_none(store: BaseStore) -> None:
    assert store.get(("users", "nobody"), "prefs") is None


def test_update_keeps_created_at_and_moves_updated_at(store: BaseStore) -> None:
    store.put(("users", "u1"), "prefs", {"theme": "dark"})
    first = store.get(("users", "u1"), "prefs")
    store.put(("users", "u1"), "prefs", {"theme": "light"})
    second = store.get(("users", "u1"), "prefs")
    assert first is not None and second is not None
    assert second.value == {"theme": "light"}
    assert second.updated_at >= first.updated_at
    if isinstance(store, HiveStore):  # InMemoryStore re-stamps created_at; Postgres and Hive keep it
        assert second.created_at == first.created_at


def test_delete_removes_from_get_search_and_namespaces(store: BaseStore) -> None:
    store.put(("docs",), "d1", {"text": "hello"})
    store.delete(("docs",), "d1")
    assert store.get(("docs",), "d1") is None
    assert store.search(("docs",)) == []
    if isinstance(store, HiveStore):  # InMemoryStore keeps listing emptied namespaces
        assert ("docs",) not in store.list_namespaces()
    store.delete(("docs",), "never-there")  # deleting a missing key is a no-op


def test_namespaces_are_isolated_and_keys_are_per_namespace(store: BaseStore) -> None:
    store.put(("a",), "k", {"v": 1})
    store.put(("b",), "k", {"v": 2})
    store.put(("a", "b"), "k", {"v": 3})
    assert _value(store, ("a",), "k") == {"v": 1}
    assert _value(store, ("b",), "k") == {"v": 2}
    assert _value(store, ("a", "b"), "k") == {"v": 3}


@pytest.mark.parametrize(
    "namespace", [(), ("a.b",), ("",), ("langgraph",), ("ok", "bad.label")]
)
def test_invalid_namespaces_are_refused(store: BaseStore, namespace: tuple[str, ...]) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"v": 1})


# -- batch -----------------------------------------------------------------------------


def test_batch_results_line_up_with_ops(store: BaseStore) -> None:
    # Reads in the same batch as a put may see the state before it (InMemoryStore
    # applies puts last), so writes and reads go in two batches.
    assert store.batch([PutOp(("x",), "k1", {"v": 1}), PutOp(("x", "y"), "k2", {"v": 2})]) == [None, None]
    results = store.batch([
        GetOp(("x",), "k1"),
        GetOp(("x",), "k1"),
        GetOp(("x", "y"), "k2"),
        SearchOp(("x",), limit=10),
        ListNamespacesOp(),
        GetOp(("x",), "missing"),
    ])
    assert results[0] == results[1] and results[2].value == {"v": 2}  # type: ignore[union-attr]
    assert results[1].value == {"v": 1}  # type: ignore[union-attr]
    assert sorted(i.key for i in results[3]) == ["k1", "k2"]  # type: ignore[union-attr]
    assert results[4] == [("x",), ("x", "y")]
    assert results[5] is None


def test_abatch_and_async_methods(store: BaseStore) -> None:
    async def run() -> tuple[Any, Any, Any]:
        await store.aput(("async",), "k", {"v": "x"})
        got = await store.aget(("async",), "k")
        listed = await store.alist_namespaces(prefix=("async",))
        found = await store.asearch(("async",))
        await store.adelete(("async",), "k")
        return got, listed, found

    got, listed, found = asyncio.run(run())
    assert got.value == {"v": "x"} and listed == [("async",)] and [i.key for i in found] == ["k"]
    assert store.get(("async",), "k") is None


# -- search ----------------------------------------------------------------------------


def _seed(store: BaseStore) -> None:
    store.put(("docs", "a"), "tea", {"text": "green tea brewing guide", "score": 4.5, "kind": "guide"})
    store.put(("docs", "a"), "car", {"text": "red sports car repair", "score": 2.0, "kind": "manual"})
    store.put(("docs", "b"), "cake", {"text": "chocolate cake recipe", "score": 5.0, "kind": "guide",
                                      "meta": {"lang": "en"}})
    store.put(("other",), "tea2", {"text": "tea plantations", "score": 3.0, "kind": "guide"})


def test_search_scopes_by_namespace_prefix(store: BaseStore) -> None:
    _seed(store)
    assert sorted(i.key for i in store.search(("docs",))) == ["cake", "car", "tea"]
    assert sorted(i.key for i in store.search(("docs", "a"))) == ["car", "tea"]
    assert sorted(i.key for i in store.search(())) == ["cake", "car", "tea", "tea2"]
    assert store.search(("nope",)) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"kind": "guide"}, ["cake", "tea"]),
        ({"kind": {"$eq": "manual"}}, ["car"]),
        ({"kind": {"$ne": "guide"}}, ["car"]),
        ({"score": {"$gt": 4.5}}, ["cake"]),
        ({"score": {"$gte": 4.5}}, ["cake", "tea"]),
        ({"score": {"$lt": 4.5}}, ["car"]),
        ({"score": {"$lte": 4.5}}, ["car", "tea"]),
        ({"score": {"$gte": 2.0, "$lt": 5.0}, "kind": "guide"}, ["tea"]),
        ({"meta": {"lang": "en"}}, ["cake"]),
        ({"kind": "none"}, []),
    ],
)
def test_search_filters(store: BaseStore, flt: dict[str, Any], expected: list[str]) -> None:
    _seed(store)
    assert sorted(i.key for i in store.search(("docs",), filter=flt)) == expected


def test_search_pagination_covers_each_item_once(store: BaseStore) -> None:
    for i in range(7):
        store.put(("page",), f"k{i}", {"i": i})
    pages = [store.search(("page",), limit=3, offset=o) for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    keys = [i.key for p in pages for i in p]
    assert sorted(keys) == [f"k{i}" for i in range(7)]
    assert store.search(("page",), limit=3, offset=9) == []


def test_semantic_search_ranks_the_relevant_item_first_with_scores(store: BaseStore) -> None:
    if isinstance(store, InMemoryStore):
        pytest.skip("InMemoryStore has no semantic index without an embeddings config")
    _seed(store)
    _flush(store)
    results = store.search(("docs",), query="green tea brewing")
    assert results and results[0].key == "tea"
    assert results[0].score is not None
    assert all(r.namespace[0] == "docs" for r in results)
    filtered = store.search(("docs",), query="green tea brewing", filter={"kind": "manual"})
    assert [r.key for r in filtered] == ["car"]


def test_index_false_items_are_stored_but_not_semantically_found(store: BaseStore) -> None:
    if isinstance(store, InMemoryStore):
        pytest.skip("InMemoryStore has no semantic index without an embeddings config")
    store.put(("n",), "hidden", {"text": "zebra migration"}, index=False)
    store.put(("n",), "shown", {"text": "zebra stripes"})
    _flush(store)
    assert store.get(("n",), "hidden") is not None
    hits = store.search(("n",), query="zebra migration")
    assert [h.key for h in hits] == ["shown"]


def test_index_fields_select_the_searchable_text(store: BaseStore) -> None:
    if isinstance(store, InMemoryStore):
        pytest.skip("InMemoryStore has no semantic index without an embeddings config")
    store.put(("f",), "a", {"title": "quantum physics", "body": "unrelated words"}, index=["title"])
    store.put(("f",), "b", {"title": "gardening", "body": "quantum physics lecture"}, index=["title"])
    _flush(store)
    hits = store.search(("f",), query="quantum physics")
    assert hits[0].key == "a"


# -- list_namespaces -----------------------------------------------------------------


def test_list_namespaces_with_conditions_depth_and_paging(store: BaseStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "x"), ("z", "b", "c")]:
        store.put(ns, "k", {"v": 1})
    assert store.list_namespaces() == [("a", "b", "c"), ("a", "b", "d"), ("a", "x"), ("z", "b", "c")]
    assert store.list_namespaces(prefix=("a",)) == [("a", "b", "c"), ("a", "b", "d"), ("a", "x")]
    assert store.list_namespaces(suffix=("c",)) == [("a", "b", "c"), ("z", "b", "c")]
    assert store.list_namespaces(prefix=("*", "b")) == [("a", "b", "c"), ("a", "b", "d"), ("z", "b", "c")]
    assert store.list_namespaces(prefix=("a",), suffix=("d",)) == [("a", "b", "d")]
    assert store.list_namespaces(max_depth=2) == [("a", "b"), ("a", "x"), ("z", "b")]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "b", "d"), ("a", "x")]
    batch = store.batch([ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("*", "c")),))])
    assert batch[0] == [("a", "b", "c"), ("z", "b", "c")]


# -- TTL (HiveStore) -----------------------------------------------------------------


@pytest.fixture
def ttl_store() -> Iterator[tuple[HiveStore, Clock]]:
    clock = Clock()
    memory = _memory_in_memory()
    store = HiveStore(memory, ttl={"default_ttl": 1.0, "refresh_on_read": True}, clock=clock)
    yield store, clock
    memory.close()


def test_ttl_expires_items_and_reads_refresh_them(ttl_store: tuple[HiveStore, Clock]) -> None:
    store, clock = ttl_store
    assert store.supports_ttl
    store.put(("t",), "short", {"v": 1})  # default_ttl: 1 minute
    store.put(("t",), "forever", {"v": 2}, ttl=None)
    clock.now += timedelta(seconds=50)
    assert store.get(("t",), "short") is not None  # refreshes: expires 60 s from now
    clock.now += timedelta(seconds=50)
    assert store.get(("t",), "short", refresh_ttl=False) is not None
    clock.now += timedelta(seconds=20)
    assert store.get(("t",), "short") is None
    assert [i.key for i in store.search(("t",))] == ["forever"]
    assert store.sweep() == 1
    assert store.get(("t",), "forever") is not None


def test_hive_store_keeps_history_and_survives_reopen(tmp_path: Path) -> None:
    memory = _memory_sqlite(tmp_path / "hive")
    store = HiveStore(memory)
    store.put(("users", "u1"), "prefs", {"theme": "dark"})
    store.put(("users", "u1"), "prefs", {"theme": "light"})
    versions = memory.history("prefs", namespace=("acme", "store", "users", "u1"))
    assert len(versions) == 2
    memory.close()
    memory = _memory_sqlite(tmp_path / "hive")
    reopened = HiveStore(memory)
    assert _value(reopened, ("users", "u1"), "prefs") == {"theme": "light"}
    assert reopened.list_namespaces() == [("users", "u1")]
    memory.close()


def test_two_stores_on_one_memory_see_each_others_writes() -> None:
    memory = _memory_in_memory()
    a, b = HiveStore(memory), HiveStore(memory)
    a.put(("s",), "k", {"v": 1})
    assert _value(b, ("s",), "k") == {"v": 1}
    b.put(("s",), "k", {"v": 2})
    assert _value(a, ("s",), "k") == {"v": 2}
    b.delete(("s",), "k")
    assert a.get(("s",), "k") is None
    memory.close()


# -- inputs Hive memory cannot hold as they are (HiveStore) ---------------------------------

def _value(store: BaseStore, namespace: tuple[str, ...], key: str) -> Any:
    item = store.get(namespace, key)
    assert item is not None, (namespace, key)
    return item.value


ODD_ITEMS: list[tuple[tuple[str, ...], str]] = [
    (("users",), ""),
    ((" ",), " "),
    (tuple("abcdefghij"), "k" * 10_000),
    (("x" * 1000, "tab\there"), "nul\x00byte"),
    (("users", "\ud800"), "\ud800"),
    (("~lg-ns", "inner"), "~lg-key:" + "0" * 40),
]


@pytest.fixture(params=["hive-inmemory", "hive-sqlite"])
def hive_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HiveStore]:
    memory = _memory_in_memory() if request.param == "hive-inmemory" else _memory_sqlite(tmp_path / "hive")
    store = HiveStore(memory)
    yield store
    store.close()
    memory.close()


def test_odd_keys_and_namespaces_survive_reopen(tmp_path: Path) -> None:
    memory = _memory_sqlite(tmp_path / "hive")
    store = HiveStore(memory)
    for i, (namespace, key) in enumerate(ODD_ITEMS):
        store.put(namespace, key, {"i": i, "when": datetime(2024, 1, i + 1, tzinfo=UTC), "tags": {i}})
    store.put(ODD_ITEMS[0][0], ODD_ITEMS[0][1], {"i": 0, "updated": True})
    store.delete(*ODD_ITEMS[1])
    memory.close()
    memory = _memory_sqlite(tmp_path / "hive")
    reopened = HiveStore(memory)
    assert _value(reopened, *ODD_ITEMS[0]) == {"i": 0, "updated": True}
    assert reopened.get(*ODD_ITEMS[1]) is None
    for i, (namespace, key) in enumerate(ODD_ITEMS[2:], start=2):
        item = reopened.get(namespace, key)
        assert item is not None and (item.namespace, item.key) == (namespace, key)
        assert item.value == {"i": i, "when": datetime(2024, 1, i + 1, tzinfo=UTC), "tags": {i}}
    assert reopened.list_namespaces() == sorted(ns for ns, _ in ODD_ITEMS if ns != (" ",))
    memory.close()


def test_a_key_shaped_like_a_digest_key_does_not_collide(hive_store: HiveStore) -> None:
    digest_of_empty = HiveStore._hive_key("")
    assert digest_of_empty != ""
    hive_store.put(("n",), "", {"v": "empty"})
    hive_store.put(("n",), digest_of_empty, {"v": "literal"})
    assert _value(hive_store, ("n",), "") == {"v": "empty"}
    assert _value(hive_store, ("n",), digest_of_empty) == {"v": "literal"}
    assert sorted(i.key for i in hive_store.search(("n",))) == ["", digest_of_empty]


def test_other_stores_on_one_memory_see_odd_items() -> None:
    memory = _memory_in_memory()
    a, b = HiveStore(memory), HiveStore(memory)
    a.put(tuple("abcdefghij"), "", {"v": 1})
    assert _value(b, tuple("abcdefghij"), "") == {"v": 1}
    b.delete(tuple("abcdefghij"), "")
    assert a.get(tuple("abcdefghij"), "") is None
    memory.close()


def test_semantic_search_reaches_digest_named_namespaces_and_keeps_the_prefix(hive_store: HiveStore) -> None:
    hive_store.put(("docs", "l" * 300), "k" * 600, {"text": "green tea brewing guide"})
    hive_store.put(("docs",), "car", {"text": "red sports car repair"})
    hive_store.put(("other", "l" * 300), "tea", {"text": "green tea brewing guide"})
    _flush(hive_store)
    hits = hive_store.search(("docs",), query="green tea brewing")
    assert (hits[0].namespace, hits[0].key) == (("docs", "l" * 300), "k" * 600)
    assert hits[0].score is not None
    assert {h.namespace[0] for h in hits} == {"docs"}
    assert [h.key for h in hive_store.search(("docs", "l" * 300), query="green tea")] == ["k" * 600]


def test_a_long_value_is_kept_whole_and_searchable_by_its_beginning(hive_store: HiveStore) -> None:
    value = {"text": "zebra migration notes " + "lorem ipsum " * 500_000}  # 6 MB
    hive_store.put(("big",), "doc", value)
    hive_store.put(("big",), "other", {"text": "sports car repair"})
    _flush(hive_store)
    assert _value(hive_store, ("big",), "doc") == value
    assert hive_store.search(("big",), query="zebra migration")[0].key == "doc"


def test_values_keep_their_python_types(hive_store: HiveStore) -> None:
    from decimal import Decimal
    from uuid import UUID

    value = {
        "when": datetime(2024, 5, 6, tzinfo=UTC), "id": UUID(int=7), "tags": {"a"}, "blob": b"\x00\xff",
        "amount": Decimal("1.10"), "map": {1: "int key"}, "inf": float("inf"),
    }
    hive_store.put(("types",), "k", value)
    got = hive_store.get(("types",), "k")
    assert got is not None and got.value == value
    assert {k: type(v) for k, v in got.value.items()} == {k: type(v) for k, v in value.items()}
    # msgpack has no tuple: a tuple comes back as a list, as from LangGraph's checkpointers.
    hive_store.put(("types",), "t", {"pair": (1, 2), "when": datetime(2024, 1, 1, tzinfo=UTC)})
    assert _value(hive_store, ("types",), "t")["pair"] == [1, 2]


def test_returned_values_are_copies(hive_store: HiveStore) -> None:
    value: dict[str, Any] = {"list": [1], "when": {"at": datetime(2024, 1, 1, tzinfo=UTC)}}
    plain: dict[str, Any] = {"list": [1]}
    hive_store.put(("c",), "encoded", value)
    hive_store.put(("c",), "plain", plain)
    plain["list"].append("changed after put")
    for key in ("encoded", "plain"):
        _value(hive_store, ("c",), key)["list"].append(2)
        assert _value(hive_store, ("c",), key)["list"] == [1]


def test_plain_json_values_stay_readable_in_history() -> None:
    memory = _memory_in_memory()
    store = HiveStore(memory)
    store.put(("users",), "prefs", {"theme": "dark"})
    (version,) = memory.history("prefs", namespace=("acme", "store", "users"))
    assert version.record.metadata["value"] == {"theme": "dark"}
    memory.close()


# -- inputs HiveStore refuses -----------------------------------------------------------------


class Opaque:
    """An object no serializer knows."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([("a", 1)], "must be a dict"),
        ({"obj": Opaque()}, "Opaque"),
        ({"z": complex(1, 2)}, "complex"),
        ({"huge": 2**70, "when": datetime(2024, 1, 1, tzinfo=UTC)}, "64 bits"),
    ],
)
def test_values_no_serializer_holds_are_refused_with_the_reason(
    hive_store: HiveStore, value: Any, expected: str
) -> None:
    hive_store.put(("r",), "k", {"old": True})
    with pytest.raises(HiveValidationError, match=expected) as caught:
        hive_store.put(("r",), "k", value)
    assert caught.value.fields["field"] == "value"
    if isinstance(value, dict):
        assert "convert the offending field" in caught.value.message
    assert _value(hive_store, ("r",), "k") == {"old": True}


def test_cyclic_values_are_refused(hive_store: HiveStore) -> None:
    plain: dict[str, Any] = {"a": 1}
    plain["self"] = plain
    with pytest.raises(HiveValidationError, match="cycles"):
        hive_store.put(("r",), "plain", plain)
    encoded: dict[str, Any] = {"when": datetime(2024, 1, 1, tzinfo=UTC)}
    encoded["self"] = encoded
    with pytest.raises(HiveValidationError, match="cannot be stored"):
        hive_store.put(("r",), "encoded", encoded)
    assert hive_store.search(("r",)) == []


def test_values_over_max_value_bytes_are_refused_naming_the_limit() -> None:
    memory = _memory_in_memory()
    store = HiveStore(memory, max_value_bytes=1000)
    store.put(("r",), "fits", {"text": "x" * 900})
    for value in ({"text": "x" * 1000}, {"blob": b"x" * 800}):
        with pytest.raises(HiveValidationError, match=r"over max_value_bytes=1000") as caught:
            store.put(("r",), "k" * 2000, value)
        assert "HiveStore(memory, max_value_bytes=...)" in caught.value.message
        assert caught.value.fields["limit"] == 1000 and caught.value.fields["size"] > 1000
        assert "kkkk" in caught.value.message and "2000 characters" in caught.value.message
    assert [i.key for i in store.search(("r",))] == ["fits"]
    with pytest.raises(HiveValidationError, match="max_value_bytes"):
        HiveStore(memory, max_value_bytes=0)
    memory.close()


def test_the_default_limit_refuses_a_value_over_sixteen_mebibytes() -> None:
    from hive_middleware.integrations.langgraph_store import DEFAULT_MAX_VALUE_BYTES

    memory = _memory_in_memory()
    store = HiveStore(memory)
    with pytest.raises(HiveValidationError, match=f"max_value_bytes={DEFAULT_MAX_VALUE_BYTES}"):
        store.put(("r",), "k", {"text": "x" * DEFAULT_MAX_VALUE_BYTES})
    memory.close()


def test_non_string_keys_are_refused(hive_store: HiveStore) -> None:
    for op in (PutOp(("r",), 1, {"v": 1}), GetOp(("r",), ["unhashable"])):  # type: ignore[arg-type]
        with pytest.raises(HiveValidationError, match="key must be a string"):
            hive_store.batch([op])


def test_a_stored_value_that_cannot_be_decoded_is_reported_as_corruption() -> None:
    memory = _memory_in_memory()
    store = HiveStore(memory)
    stamp = datetime(2024, 1, 1, tzinfo=UTC).isoformat()
    memory.remember(
        "tampered", key="k", kind="semantic", namespace=("acme", "store", "r"),
        metadata={"value_encoded": {"serde": "no-such-format", "data": ""}, "created_at": stamp, "updated_at": stamp},
    )
    with pytest.raises(HiveCorruptionError, match="cannot be decoded"):
        store.get(("r",), "k")
    memory.close()
