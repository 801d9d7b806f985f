"""MemoryStore API: remember/recall/supersede/forget/history/neighbours/why/search, as_of, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hive_middleware.errors import (
    HiveError,
    HiveNotFoundError,
    HiveTenantError,
    HiveValidationError,
)
from hive_middleware.memory.store import AsyncMemoryStore, MemoryDraft, MemoryStore
from hive_middleware.types import EdgeKind, MemoryKind

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_remember_recall_supersede_history(store: MemoryStore) -> None:
    first = store.remember("Alice lives in Paris", key="alice.city", kind=MemoryKind.SEMANTIC, tags=["profile"])
    assert first.namespace == ("acme", "agent-1") and first.recorded_at > 0
    assert store.recall("alice.city") == first
    second = store.supersede("alice.city", "Alice lives in Berlin", reason="she moved", valid_from=T0)
    assert second.kind is MemoryKind.SEMANTIC and second.tags == ("profile",)  # carried over
    assert store.recall("alice.city") == second
    assert store.recall("alice.city", as_of=first.recorded_at).content == "Alice lives in Paris"
    versions = store.history("alice.city")
    assert [(v.record.content, v.reason, v.expired_reason) for v in versions] == [
        ("Alice lives in Paris", None, "superseded"),
        ("Alice lives in Berlin", "she moved", None),
    ]
    assert versions[0].record.valid_to == T0 and versions[0].superseded_by == second.id
    # The old version is kept, linked from the new one.
    assert [s.record.id for s in store.why("alice.city")] == [first.id]


def test_remember_with_existing_key_supersedes(store: MemoryStore) -> None:
    store.remember("v1", key="k")
    store.remember("v2", key="k")
    assert store.recall("k").content == "v2"
    assert len(store.history("k")) == 2


def test_keys_are_per_namespace(store: MemoryStore) -> None:
    store.remember("mine", key="k")
    store.remember("theirs", key="k", namespace=("acme", "agent-2"))
    assert store.recall("k").content == "mine"
    assert store.recall("k", namespace=("acme", "agent-2")).content == "theirs"


def test_forget_invalidates_without_deleting(store: MemoryStore) -> None:
    rec = store.remember("the build is green", key="build")
    store.forget("build", "a test was skipped")
    assert store.recall("build") is None
    then = store.recall("build", as_of=rec.recorded_at)
    assert then is not None and then.id == rec.id and then.expired_at is not None
    (version,) = store.history("build")
    assert version.expired_reason == "a test was skipped"
    assert store.search("build green") == []
    with pytest.raises(HiveNotFoundError):
        store.forget("build", "again")
    with pytest.raises(HiveNotFoundError):
        store.supersede("build", "new")
    with pytest.raises(HiveValidationError, match="reason"):
        store.forget("anything", " ")


def test_as_of_world_time_uses_validity(store: MemoryStore) -> None:
    store.remember("CEO is Ann", key="ceo", valid_from=T0)
    store.supersede("ceo", "CEO is Bob", valid_from=T0 + timedelta(days=30))
    # World-time as_of must also be after the recording, so ask about "now" ...
    assert store.recall("ceo", as_of=datetime.now(UTC)).content == "CEO is Bob"
    # ... while a stamp-only as_of asks what the store believed then.
    ann = store.history("ceo")[0].record
    assert store.recall("ceo", as_of=ann.recorded_at).content == "CEO is Ann"
    # Before anything was recorded, nothing was known.
    assert store.recall("ceo", as_of=T0 + timedelta(days=1)) is None


def test_neighbours_and_why(store: MemoryStore) -> None:
    cause = store.remember("disk filled up")
    effect = store.remember("deploy failed", caused_by=[cause.id], key="incident")
    follow = store.remember("we added disk alerts", caused_by=[effect.id])
    other = store.remember("unrelated", related_to=[follow.id])
    assert {r.id for r in store.neighbours("incident")} == {cause.id, follow.id}
    assert [r.id for r in store.neighbours("incident", depth=2)][-1] == other.id
    assert [r.id for r in store.neighbours(follow.id, kind=EdgeKind.RELATED_TO)] == [other.id]
    steps = store.why(follow.id)
    assert [(s.record.id, s.edge.kind, s.depth) for s in steps] == [
        (effect.id, EdgeKind.CAUSED_BY, 1),
        (cause.id, EdgeKind.CAUSED_BY, 2),
    ]
    with pytest.raises(HiveNotFoundError):
        store.neighbours("no-such-key")


def test_search_signals_filters_and_keyword_before_vector(tmp_path: object) -> None:
    from hive_middleware.adapters.sqlite_graph import SQLiteGraphStore

    from hive_middleware.testing.memory import HashingEmbedder, InMemoryVectorIndex

    graph = SQLiteGraphStore(tmp_path / "h")  # type: ignore[operator]
    s = MemoryStore(graph, InMemoryVectorIndex(), HashingEmbedder(64), namespace=("acme",), start_worker=False)
    try:
        a = s.remember("the payment service times out under load", tags=["ops"], confidence=0.9)
        s.remember("lunch menu: pasta", kind=MemoryKind.SEMANTIC)
        s.remember("payment retries were added", tags=["ops", "dev"], confidence=0.4, related_to=[a.id])
        # No worker ran: the keyword index alone finds it.
        hits = s.search("payment service times out")
        assert hits[0].record.id == a.id and "bm25" in hits[0].signals and "vector" not in hits[0].signals
        assert s.index_pending() == 3
        hits = s.search("payment service times out")
        assert hits[0].record.id == a.id and {"bm25", "vector"} <= set(hits[0].signals)
        assert hits[0].score > hits[-1].score and hits[0].ranks["bm25"] == 1
        assert all(h.record.kind is MemoryKind.SEMANTIC for h in s.search("pasta payment", kinds=["semantic"]))
        confident = [h.record.confidence for h in s.search("payment", min_confidence=0.5)]
        assert 0.9 in confident and min(confident) >= 0.5
        assert {h.record.content for h in s.search("payment", tags=["dev"])} == {"payment retries were added"}
        graph_hit = [h for h in s.search("payment retries added", k=5) if h.record.id == a.id]
        assert graph_hit and "graph" in graph_hit[0].signals
    finally:
        s.close()
        graph.close()


def test_search_as_of_sees_old_versions(store: MemoryStore) -> None:
    old = store.remember("the office is in Leeds", key="office")
    store.supersede("office", "the office is in York")
    assert [h.record.content for h in store.search("office")] == ["the office is in York"]
    assert [h.record.content for h in store.search("office", as_of=old.recorded_at)] == ["the office is in Leeds"]


def test_remember_many_is_atomic_and_ordered(store: MemoryStore) -> None:
    recs = store.remember_many(
        [MemoryDraft("one", key="a"), {"content": "two", "tags": ["x"]}, {"content": "three", "key": "a"}]
    )
    assert [r.content for r in recs] == ["one", "two", "three"]
    assert recs[0].recorded_at < recs[1].recorded_at < recs[2].recorded_at
    assert store.recall("a").content == "three"
    with pytest.raises(HiveValidationError) as info:
        store.remember_many([{"content": "fine"}, {"content": ""}])
    assert info.value.fields["index"] == 1
    assert all(h.record.content != "fine" for h in store.search("fine"))
    with pytest.raises(HiveValidationError, match="unknown field"):
        store.remember_many([{"content": "x", "colour": "red"}])
    assert store.remember_many([]) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"content": ""}, HiveValidationError, "empty"),
        ({"content": "   \n"}, HiveValidationError, "empty"),
        ({"content": 42}, HiveValidationError, "string"),
        ({"content": "x" * 100_001}, HiveValidationError, "max_content_chars"),
        ({"content": "ok", "namespace": ()}, HiveTenantError, "empty"),
        ({"content": "ok", "namespace": "acme"}, HiveTenantError, "tuple"),
        ({"content": "ok", "namespace": ("acme", "")}, HiveTenantError, "namespace"),
        ({"content": "ok", "namespace": ("a\x00b",)}, HiveTenantError, "printable"),
        ({"content": "ok", "valid_from": datetime(2024, 1, 1)}, HiveValidationError, "naive"),
        ({"content": "ok", "confidence": 1.5}, HiveValidationError, "confidence"),
        ({"content": "ok", "kind": "dream"}, HiveValidationError, "kind"),
        ({"content": "ok", "tags": "solo"}, HiveValidationError, "tags"),
        ({"content": "ok", "metadata": {"x": object()}}, HiveValidationError, "JSON"),
        ({"content": "ok", "caused_by": ["missing-id"]}, HiveTenantError, "do not exist"),
        ({"content": "ok", "key": ""}, HiveValidationError, "key"),
    ],
)
def test_bad_input_gets_a_clear_error(store: MemoryStore, kwargs: dict[str, object], error: type[HiveError], match: str) -> None:
    content = kwargs.pop("content")
    with pytest.raises(error, match=match):
        store.remember(content, **kwargs)  # type: ignore[arg-type]
    assert store.graph.tenants() == []


def test_bad_search_and_as_of(store: MemoryStore) -> None:
    with pytest.raises(HiveValidationError):
        store.search("")
    with pytest.raises(HiveValidationError):
        store.search("x", k=0)
    with pytest.raises(HiveValidationError, match="naive"):
        store.search("x", as_of=datetime(2024, 1, 1))
    with pytest.raises(HiveValidationError, match="naive"):
        store.recall("k", as_of=datetime(2024, 1, 1))


def test_max_content_chars_is_configurable(tmp_path: object) -> None:
    from hive_middleware.config import MemoryConfig
    from hive_middleware.testing.memory import InMemoryGraphStore

    s = MemoryStore(InMemoryGraphStore(), config=MemoryConfig(max_content_chars=10))
    with pytest.raises(HiveValidationError, match="max_content_chars=10"):
        s.remember("x" * 11)
    assert s.remember("x" * 10).content == "x" * 10


def test_closed_store_refuses_writes(store: MemoryStore) -> None:
    store.close()
    with pytest.raises(HiveError, match="closed"):
        store.remember("late")


@pytest.mark.anyio
async def test_async_twins(store: MemoryStore) -> None:
    astore = AsyncMemoryStore(store)
    rec = await astore.remember("async memory about rivers", key="r")
    assert (await astore.recall("r")) == rec
    new = await astore.supersede("r", "async memory about lakes")
    assert [v.record.id for v in await astore.history("r")] == [rec.id, new.id]
    assert (await astore.search("lakes"))[0].record.id == new.id
    assert [s.record.id for s in await astore.why("r")] == [rec.id]
    assert [r.id for r in await astore.neighbours("r")] == [rec.id]
    many = await astore.remember_many([{"content": "a"}, {"content": "b"}])
    assert len(many) == 2
    assert await astore.wait_indexed(10)
    await astore.forget("r", "obsolete")
    assert await astore.recall("r") is None
    await astore.erase_tenant("acme")
    assert await astore.search("async") == []


def test_compression_artifacts_get_no_vector() -> None:
    from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex

    store = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(), namespace=("t",),
                        start_worker=False)
    try:
        store.remember("a long compressed-away tool output", key="h-0123456789ab", kind=MemoryKind.ARTIFACT)
        assert store.graph.outbox_pending() == 0  # found by its handle and by keyword search
        store.remember("the deploy moved to Friday")
        assert store.graph.outbox_pending() == 1
    finally:
        store.close()
