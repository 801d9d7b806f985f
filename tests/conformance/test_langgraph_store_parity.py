"""Parity of ``HiveStore`` with LangGraph's own ``InMemoryStore`` on edge-case inputs.

The same put/get/search/list_namespaces/delete sequence runs against both
stores, and every result is compared on namespace, key and value (timestamps and
scores differ by design). Inputs are what ``InMemoryStore`` takes but Hive
memory does not take as they are: empty, blank, 10 000-character and
control-character keys, namespaces with blank, long, odd-character labels or
deeper than Hive's limit, values of several MB, and values plain JSON cannot hold
(datetimes, UUIDs, sets, bytes, Decimals, enums, dataclasses, pydantic models,
non-string dict keys, infinities).

Known differences, asserted where they show:

* ``InMemoryStore`` keeps listing a namespace once anything touched it (a get, a
  delete); ``HiveStore`` lists the namespaces that hold items. The comparison
  of ``list_namespaces`` therefore drops emptied namespaces from
  ``InMemoryStore``'s answer.
* Search order: ``InMemoryStore`` lists in insertion order, ``HiveStore`` most
  recently updated first (or by relevance with a query), so search results are
  compared as sets.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import namedtuple
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hive_middleware.integrations.langgraph_store import HiveStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from pydantic import BaseModel

from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex

Namespace = tuple[str, ...]


class Profile(BaseModel):
    """A pydantic model stored inside a value."""

    name: str
    langs: list[str]


class Color(enum.Enum):
    """An enum stored inside a value."""

    RED = "red"


@dataclasses.dataclass
class Point:
    """A dataclass stored inside a value."""

    x: int
    y: int


Pair = namedtuple("Pair", "left right")

EDGE_KEYS: list[str] = [
    "",
    " ",
    "\t",
    "plain",
    "k" * 10_000,
    "y" * 512,  # Hive's largest key, stored as it is
    "y" * 513,
    "a/b:c?d#e",
    "ключ 🐝",
    "nul\x00byte",
    "line\nbreak",
    "\ud800lone surrogate",
    "~lg-key:" + "0" * 40,  # looks like a digest key: must not collide with one
]
EDGE_NAMESPACES: list[Namespace] = [
    ("users",),
    (" ",),
    ("users", " "),
    tuple("abcdefghij"),  # deeper than Hive's eight labels with tenant and segment
    tuple("abcdef"),  # the deepest stored as it is
    tuple("abcdefg"),
    ("x" * 1000,),
    ("sp ace", "sl/ash", "ünï", "🐝", "*"),
    ("tab\there", "new\nline"),
    ("~lg-ns",),
    ("~lg-ns", "inner"),
    ("users", "\ud800"),
]
EDGE_VALUES: list[dict[Any, Any]] = [
    {"text": "plain json tea", "n": 1, "f": 1.5, "nested": {"l": [1, "two", None, True]}},
    {},
    {"when": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), "naive": datetime(2024, 1, 1), "day": date(2024, 2, 29),
     "dur": timedelta(hours=1, microseconds=5), "id": UUID("12345678-1234-5678-1234-567812345678")},
    {"tags": {"a", "b"}, "frozen": frozenset({1, 2}), "blob": b"\x00\xff bytes", "amount": Decimal("1.10")},
    {"model": Profile(name="ann", langs=["py", "rs"]), "color": Color.RED, "point": Point(1, 2),
     "pair": Pair("l", "r")},
    {1: "int key", "s": {2: {3: "deep"}}, None: "none key"},
    {"inf": float("inf"), "ninf": float("-inf"), "n": 1},
    {"huge": 2**100, "neg": -(2**80), "text": "big ints are plain JSON"},
    {"lone": "\ud800 in plain JSON", "n": 2},
    {"deep": {"a": {"b": {"c": {"d": {"e": {"f": [[[["x"]]]]}}}}}}},
]


def _memory_in_memory() -> MemoryStore:
    return MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(), namespace=("acme",))


def _memory_sqlite(path: Path) -> MemoryStore:
    config = HiveConfig.load(data_dir=str(path), tenant="acme", memory={"embedder": "hashing"})
    return MemoryStore.open(path, config=config)


@pytest.fixture(params=["hive-inmemory", "hive-sqlite"])
def hive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HiveStore]:
    memory = _memory_in_memory() if request.param == "hive-inmemory" else _memory_sqlite(tmp_path / "hive")
    store = HiveStore(memory)
    yield store
    store.close()
    memory.close()


# -- comparing the two stores ---------------------------------------------------------------


def _items(items: Sequence[Any]) -> list[tuple[Namespace, str, Any]]:
    """Search results as (namespace, key, value), in a fixed order."""
    return sorted(((i.namespace, i.key, i.value) for i in items), key=lambda t: (t[0], t[1]))


def _listed(store: BaseStore, *, prefix: Namespace | None = None, suffix: Namespace | None = None,
            max_depth: int | None = None) -> list[Namespace]:
    """``list_namespaces`` over the namespaces that hold items (see the module docstring)."""
    if not isinstance(store, InMemoryStore):
        return store.list_namespaces(prefix=prefix, suffix=suffix, max_depth=max_depth, limit=10_000)
    full = store.list_namespaces(prefix=prefix, suffix=suffix, limit=10_000)
    held = [ns for ns in full if any(i.namespace == ns for i in store.search(ns, limit=10_000))]
    if max_depth is not None:
        held = sorted({ns[:max_depth] for ns in held})
    return held


class Parity:
    """Runs each operation on both stores and asserts the same outcome."""

    def __init__(self, hive: HiveStore) -> None:
        self.hive = hive
        self.ref = InMemoryStore()
        self.stores: tuple[BaseStore, BaseStore] = (self.ref, hive)

    def put(self, namespace: Namespace, key: str, value: dict[Any, Any]) -> None:
        for store in self.stores:
            store.put(namespace, key, value)

    def delete(self, namespace: Namespace, key: str) -> None:
        for store in self.stores:
            store.delete(namespace, key)

    def get(self, namespace: Namespace, key: str) -> None:
        ref, got = (s.get(namespace, key) for s in self.stores)
        if ref is None:
            assert got is None, (namespace, key)
            return
        assert got is not None, (namespace, key)
        assert (got.namespace, got.key) == (ref.namespace, ref.key)
        assert got.value == ref.value, (namespace, key)

    def search(self, prefix: Namespace, *, query: str | None = None, flt: dict[str, Any] | None = None) -> None:
        ref, got = (_items(s.search(prefix, query=query, filter=flt, limit=10_000)) for s in self.stores)
        assert got == ref, (prefix, query, flt)

    def list_namespaces(self, *, prefix: Namespace | None = None, suffix: Namespace | None = None,
                        max_depth: int | None = None) -> None:
        ref, got = (_listed(s, prefix=prefix, suffix=suffix, max_depth=max_depth) for s in self.stores)
        assert got == ref, (prefix, suffix, max_depth)

    def observe(self, pairs: Sequence[tuple[Namespace, str]]) -> None:
        """Compare everything a reader can see."""
        for namespace, key in pairs:
            self.get(namespace, key)
        for namespace in {ns for ns, _ in pairs}:
            self.search(namespace)
            self.search(namespace[:1])
        self.search(())
        self.search((), query="plain json tea")
        self.search((), flt={"n": 1})
        self.search((), flt={"when": EDGE_VALUES[2]["when"]})
        self.search(("users",), flt={"n": {"$ne": 1}})
        self.list_namespaces()
        self.list_namespaces(prefix=("users",))
        self.list_namespaces(prefix=("a", "*", "c"))
        self.list_namespaces(suffix=("*",))
        self.list_namespaces(max_depth=1)
        self.list_namespaces(max_depth=3)


def test_the_same_sequence_gives_the_same_items(hive: HiveStore) -> None:
    parity = Parity(hive)
    pairs = [(ns, key) for i, ns in enumerate(EDGE_NAMESPACES) for key in EDGE_KEYS[i % 3:: 3]]
    for i, (namespace, key) in enumerate(pairs):
        parity.put(namespace, key, EDGE_VALUES[i % len(EDGE_VALUES)])
    parity.observe(pairs)
    # Update every other item with another kind of value, delete every third.
    for i, (namespace, key) in enumerate(pairs):
        if i % 2 == 0:
            parity.put(namespace, key, EDGE_VALUES[(i + 3) % len(EDGE_VALUES)])
        if i % 3 == 0:
            parity.delete(namespace, key)
    parity.delete(("never", "there"), "")
    parity.observe(pairs)
    # Deleted items come back under the same names.
    for namespace, key in pairs[::3]:
        parity.put(namespace, key, {"text": "back again", "n": 1})
    parity.observe(pairs)


def test_a_value_of_several_megabytes_and_a_long_key(hive: HiveStore) -> None:
    parity = Parity(hive)
    big = {"text": "needle haystack " + "z" * 5_000_000, "n": 1}
    parity.put(("big", "x" * 300), "k" * 10_000, big)
    parity.put(("big",), "", {"text": "small", "n": 1})
    parity.observe([(("big", "x" * 300), "k" * 10_000), (("big",), "")])
    parity.delete(("big", "x" * 300), "k" * 10_000)
    parity.observe([(("big", "x" * 300), "k" * 10_000), (("big",), "")])


# -- generated sequences --------------------------------------------------------------------

_label = st.one_of(
    st.sampled_from(["users", " ", "*", "~lg-ns", "x" * 200, "ünï", "\t"]),
    st.text(st.characters(blacklist_characters=".\x00"), min_size=1, max_size=8),
)
_namespace = st.lists(_label, min_size=1, max_size=9).map(tuple).filter(lambda ns: ns[0] != "langgraph")
_key = st.one_of(
    st.sampled_from(EDGE_KEYS),
    st.text(max_size=12),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=500, max_value=12_000)),
)
_text = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates: msgpack turns them into "?"
_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False), _text,
    st.datetimes(timezones=st.sampled_from([None, UTC])), st.dates(), st.uuids(),
    st.binary(max_size=8), st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.frozensets(st.integers(min_value=0, max_value=9), max_size=3),
    st.sets(_text, max_size=3),
)
_inner = st.recursive(
    _leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=6
)
_value = st.dictionaries(st.one_of(st.sampled_from(["n", "text", "a"]), _text), _inner, max_size=4)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_sequences_give_the_same_items(data: st.DataObject) -> None:
    memory = _memory_in_memory()
    parity = Parity(HiveStore(memory))
    namespaces = data.draw(st.lists(_namespace, min_size=1, max_size=3, unique=True), label="namespaces")
    keys = data.draw(st.lists(_key, min_size=1, max_size=3, unique=True), label="keys")
    pairs = [(ns, key) for ns in namespaces for key in keys]
    steps = data.draw(st.lists(st.tuples(st.sampled_from(["put", "put", "delete", "get", "search", "list"]),
                                         st.sampled_from(pairs), _value), min_size=1, max_size=10), label="steps")
    for action, (namespace, key), value in steps:
        if action == "put":
            parity.put(namespace, key, value)
        elif action == "delete":
            parity.delete(namespace, key)
        elif action == "get":
            parity.get(namespace, key)
        elif action == "search":
            parity.search(namespace[:1], flt={"n": value["n"]} if not isinstance(value.get("n", {}), dict) else None)
        else:
            parity.list_namespaces(prefix=namespace[:1], max_depth=2)
    for namespace, key in pairs:
        parity.get(namespace, key)
    parity.search(())
    parity.list_namespaces()
    memory.close()
