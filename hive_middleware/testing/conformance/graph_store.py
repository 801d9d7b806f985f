"""Conformance checks for :class:`~hive_middleware.ports.GraphStore`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from hive_middleware.errors import HiveNotFoundError, HiveTenantError, HiveValidationError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.records import EMBEDDED_CONTEXT_CHARS, embedding_text, new_record_id
from hive_middleware.memory.writes import AddEdges, Expire, PutRecord, SetConfidence, SetMetadata
from hive_middleware.ports import GraphStore
from hive_middleware.types import EdgeKind, MemoryKind, MemoryRecord

__all__ = ["GRAPH_STORE_CHECKS", "make_record"]

GraphStoreFactory = Callable[[], GraphStore]


def make_record(
    content: str,
    namespace: tuple[str, ...] = ("acme",),
    *,
    key: str | None = None,
    valid_from: datetime | None = None,
) -> MemoryRecord:
    """A fresh, unstamped record for a commit."""
    return MemoryRecord(
        id=new_record_id(),
        namespace=namespace,
        kind=MemoryKind.SEMANTIC,
        content=content,
        recorded_at=0,
        key=key,
        valid_from=valid_from,
    )


def check_commit_stamps_and_get(make: GraphStoreFactory) -> None:
    """Commits stamp strictly increasing HLC values and ``get`` returns the records."""
    store, clock = make(), HybridClock()
    a, b = make_record("alpha"), make_record("beta")
    result = store.commit([PutRecord(a), PutRecord(b)], clock)
    assert [r.id for r in result.records] == [a.id, b.id]
    assert 0 < result.records[0].recorded_at < result.records[1].recorded_at == result.stamp
    got = store.get("acme", [a.id, b.id, "missing"])
    assert set(got) == {a.id, b.id}
    assert got[a.id].content == "alpha" and got[a.id].recorded_at == result.records[0].recorded_at
    assert got[a.id].namespace == ("acme",) and got[a.id].kind is MemoryKind.SEMANTIC


def check_stale_clock_never_reorders(make: GraphStoreFactory) -> None:
    """A writer whose wall clock is far behind still stamps after what is stored."""
    store = make()
    first = store.commit([PutRecord(make_record("now"))], HybridClock()).stamp
    stale = HybridClock(wall_ms=lambda: 1_000)  # 1970
    second = store.commit([PutRecord(make_record("later"))], stale).stamp
    assert second > first


def check_supersede_closes_old_version(make: GraphStoreFactory) -> None:
    """A keyed put closes the current version, links ``supersedes`` and keeps both in ``versions``."""
    store, clock = make(), HybridClock()
    ns = ("acme", "agent")
    old = store.commit([PutRecord(make_record("Paris", ns, key="city"), reason="first")], clock).records[0]
    when = datetime(2025, 1, 1, tzinfo=UTC)
    new = make_record("Berlin", ns, key="city", valid_from=when)
    result = store.commit([PutRecord(new, reason="moved")], clock)
    assert result.expired == (old.id,)
    current = store.current(ns, "city")
    assert current is not None and current.id == new.id
    versions = store.versions(ns, "city")
    assert [v.record.content for v in versions] == ["Paris", "Berlin"]
    assert versions[0].record.expired_at == result.stamp and versions[0].record.valid_to == when
    assert versions[0].superseded_by == new.id and versions[0].expired_reason == "superseded"
    assert versions[1].reason == "moved" and versions[1].record.expired_at is None
    kinds = {(e.src, e.kind, e.dst) for e in store.edges("acme", new.id)}
    assert (new.id, EdgeKind.SUPERSEDES, old.id) in kinds
    # Keys are per namespace: the same key elsewhere is another memory.
    assert store.current(("acme", "other"), "city") is None


def check_failed_commit_writes_nothing(make: GraphStoreFactory) -> None:
    """A failing op rolls the whole commit back."""
    store, clock = make(), HybridClock()
    a = make_record("kept out")
    b = make_record("needs a current key", key="absent")
    try:
        store.commit([PutRecord(a), PutRecord(b, require_current=True)], clock)
    except HiveNotFoundError:
        pass
    else:
        raise AssertionError("require_current on a missing key must raise HiveNotFoundError")
    assert store.get("acme", [a.id]) == {}
    assert store.keyword_search("acme", "kept", 5) == []
    assert store.outbox_pending() == 0
    store.commit([PutRecord(make_record("v1", key="k"))], clock)
    try:
        store.commit([PutRecord(make_record("v2", key="k"), supersede=False)], clock)
    except HiveValidationError:
        pass
    else:
        raise AssertionError("a second current version of a key must be refused")


def check_expire(make: GraphStoreFactory) -> None:
    """``Expire`` by key or id sets ``expired_at`` only; a missing key raises."""
    store, clock = make(), HybridClock()
    rec = store.commit([PutRecord(make_record("fact", key="k"))], clock).records[0]
    result = store.commit([Expire(("acme",), "wrong", key="k")], clock)
    assert result.expired == (rec.id,)
    assert store.current(("acme",), "k") is None
    version = store.versions(("acme",), "k")[0]
    assert version.expired_reason == "wrong" and version.record.valid_to is None
    try:
        store.commit([Expire(("acme",), "again", key="k")], clock)
    except HiveNotFoundError:
        pass
    else:
        raise AssertionError("expiring a key with no current version must raise")
    other = store.commit([PutRecord(make_record("plain"))], clock).records[0]
    assert store.commit([Expire(("acme",), "ttl", record_ids=(other.id, "nope"))], clock).expired == (
        other.id,
    )


def check_keyword_search(make: GraphStoreFactory) -> None:
    """BM25 finds records at once, best first with positive scores, within the tenant only."""
    store, clock = make(), HybridClock()
    store.commit(
        [
            PutRecord(make_record("the deploy failed because the database migration timed out")),
            PutRecord(make_record("lunch was pasta")),
            PutRecord(make_record("database database migration", ("globex",))),
        ],
        clock,
    )
    hits = store.keyword_search("acme", "why did the database migration fail?", 10)
    assert len(hits) == 1 and hits[0][1] > 0
    assert store.get("acme", [hits[0][0]])[hits[0][0]].content.startswith("the deploy")
    assert store.keyword_search("acme", "   ", 10) == []
    assert store.keyword_search("acme", 'AND OR "( NEAR', 10) == []
    assert len(store.keyword_search("globex", "database", 10)) == 1


def check_authors(make: GraphStoreFactory) -> None:
    """``authors`` lists a tenant's distinct string ``metadata["author"]`` values, for that tenant only."""
    store, clock = make(), HybridClock()
    assert store.authors("acme") == frozenset()
    plain = make_record("no author")
    store.commit(
        [
            PutRecord(replace(make_record("a"), metadata={"author": "Priya"})),
            PutRecord(replace(make_record("b"), metadata={"author": "Priya"})),
            PutRecord(replace(make_record("c"), metadata={"author": 7})),
            PutRecord(plain),
            PutRecord(replace(make_record("d", ("globex",)), metadata={"author": "Mallory"})),
        ],
        clock,
    )
    assert store.authors("acme") == frozenset({"Priya"})
    store.commit([SetMetadata("acme", plain.id, {"author": "Jo Lee"})], clock)
    assert store.authors("acme") == frozenset({"Priya", "Jo Lee"})
    assert store.authors("globex") == frozenset({"Mallory"})
    store.erase_tenant("globex")
    assert store.authors("globex") == frozenset()


def check_edges_and_traverse(make: GraphStoreFactory) -> None:
    """Links become edges; ``traverse`` honours depth, direction and kinds; no cross-tenant links."""
    store, clock = make(), HybridClock()
    a = store.commit([PutRecord(make_record("a"))], clock).records[0]
    b = store.commit([PutRecord(make_record("b"), links=((EdgeKind.CAUSED_BY, a.id),))], clock).records[0]
    c = store.commit([PutRecord(make_record("c"), links=((EdgeKind.RELATED_TO, b.id),))], clock).records[0]
    assert store.traverse("acme", [c.id], depth=1, direction="out") == {b.id: 1}
    assert store.traverse("acme", [c.id], depth=2, direction="out") == {b.id: 1, a.id: 2}
    assert store.traverse("acme", [a.id], depth=2, direction="in") == {b.id: 1, c.id: 2}
    assert store.traverse("acme", [c.id], depth=3, kinds=[EdgeKind.RELATED_TO], direction="out") == {b.id: 1}
    assert store.traverse("acme", [b.id], depth=1) == {a.id: 1, c.id: 1}
    assert store.traverse("globex", [c.id], depth=3) == {}
    store.commit([AddEdges("acme", ((a.id, EdgeKind.CONTRADICTS, c.id),))], clock)
    assert any(e.kind is EdgeKind.CONTRADICTS for e in store.edges("acme", c.id))
    foreign = store.commit([PutRecord(make_record("g", ("globex",)))], clock).records[0]
    for op in (
        PutRecord(make_record("x"), links=((EdgeKind.CAUSED_BY, foreign.id),)),
        AddEdges("acme", ((a.id, EdgeKind.RELATED_TO, foreign.id),)),
    ):
        try:
            store.commit([op], clock)
        except HiveTenantError:
            continue
        raise AssertionError("a link to another tenant's record must raise HiveTenantError")


def check_set_confidence(make: GraphStoreFactory) -> None:
    """``SetConfidence`` updates in place; an unknown id raises."""
    store, clock = make(), HybridClock()
    rec = store.commit([PutRecord(make_record("x"))], clock).records[0]
    store.commit([SetConfidence("acme", rec.id, 0.25)], clock)
    assert store.get("acme", [rec.id])[rec.id].confidence == 0.25
    try:
        store.commit([SetConfidence("globex", rec.id, 0.5)], clock)
    except HiveNotFoundError:
        return
    raise AssertionError("SetConfidence across tenants must raise HiveNotFoundError")


def check_outbox_lease_and_ack(make: GraphStoreFactory) -> None:
    """Outbox rows are leased once, reclaimable after the lease, gone after ack."""
    store, clock = make(), HybridClock()
    recs = store.commit([PutRecord(make_record(f"r{i}")) for i in range(3)], clock).records
    store.commit([PutRecord(make_record("no vector"), embed=False)], clock)
    assert store.outbox_pending() == 3
    first = store.claim_outbox(2, lease_s=60)
    assert [i.record_id for i in first] == [recs[0].id, recs[1].id]
    assert first[0].content == "r0" and first[0].tenant == "acme"
    rest = store.claim_outbox(10, lease_s=0.05)
    assert [i.record_id for i in rest] == [recs[2].id]
    assert store.claim_outbox(10, lease_s=60) == []
    time.sleep(0.1)
    again = store.claim_outbox(10, lease_s=60)
    assert [i.record_id for i in again] == [recs[2].id] and again[0].attempts == 2
    store.ack_outbox(first + again)
    assert store.outbox_pending() == 0


def check_outbox_embeds_content_then_context(make: GraphStoreFactory) -> None:
    """An outbox item carries ``embedding_text``: the content, then the start of ``metadata["context"]``."""
    store, clock = make(), HybridClock()
    long_context = "é" * (EMBEDDED_CONTEXT_CHARS + 7)
    store.commit(
        [
            PutRecord(
                replace(
                    make_record("Sure, I can mail it."), metadata={"context": "Can you share the recipe?"}
                )
            ),
            PutRecord(replace(make_record("plain"), metadata={"context": ""})),
            PutRecord(replace(make_record("odd"), metadata={"context": 3})),
            PutRecord(replace(make_record("long"), metadata={"context": long_context})),
        ],
        clock,
    )
    items = store.claim_outbox(10, lease_s=60)
    assert [i.content for i in items] == [
        "Sure, I can mail it.\nCan you share the recipe?", "plain", "odd", "long\n" + "é" * EMBEDDED_CONTEXT_CHARS,
    ]
    assert items[3].content == embedding_text("long", {"context": long_context})


def check_keyword_search_reads_context(make: GraphStoreFactory) -> None:
    """Keyword search matches ``metadata["context"]`` too, below a match in the content;
    changing the metadata re-indexes it; a tenant's erase takes its context words."""
    store, clock = make(), HybridClock()
    reply, recipe, other = store.commit(
        [
            PutRecord(
                replace(make_record("Sure, I can mail it."), metadata={"context": "Can you share the lasagne recipe?"})
            ),
            PutRecord(make_record("My lasagne recipe has three cheeses.")),
            PutRecord(make_record("The weather was fine.")),
        ],
        clock,
    ).records
    assert [rid for rid, _ in store.keyword_search("acme", "lasagne", 10)] == [recipe.id, reply.id]
    assert store.keyword_search("acme", "mail", 10)[0][0] == reply.id
    store.commit([SetMetadata("acme", other.id, {"context": "Did you go hiking?"})], clock)
    store.commit([SetMetadata("acme", reply.id, {"context": "Can you send the pictures?"})], clock)
    assert [rid for rid, _ in store.keyword_search("acme", "lasagne", 10)] == [recipe.id]
    assert [rid for rid, _ in store.keyword_search("acme", "pictures", 10)] == [reply.id]
    assert [rid for rid, _ in store.keyword_search("acme", "hiking", 10)] == [other.id]
    store.erase_tenant("acme")
    assert store.keyword_search("acme", "pictures", 10) == []


def check_change_stamp_moves(make: GraphStoreFactory) -> None:
    """``change_stamp`` differs after every commit."""
    store, clock = make(), HybridClock()
    seen = {store.change_stamp()}
    for i in range(3):
        store.commit([PutRecord(make_record(f"c{i}"))], clock)
        stamp = store.change_stamp()
        assert stamp not in seen
        seen.add(stamp)


def check_scan_and_tenants(make: GraphStoreFactory) -> None:
    """``scan`` lists a tenant's records by stamp (optionally since one); ``tenants`` lists owners."""
    store, clock = make(), HybridClock()
    first = store.commit([PutRecord(make_record("one"))], clock).stamp
    store.commit([PutRecord(make_record("two")), PutRecord(make_record("g", ("globex",)))], clock)
    assert [r.content for r in store.scan("acme")] == ["one", "two"]
    assert [r.content for r in store.scan("acme", since=first)] == ["two"]
    assert store.tenants() == ["acme", "globex"]


def check_erase_tenant(make: GraphStoreFactory) -> None:
    """``erase_tenant`` deletes records, edges, keyword rows and outbox rows of that tenant only."""
    store, clock = make(), HybridClock()
    a = store.commit([PutRecord(make_record("secret plan", key="k"))], clock).records[0]
    store.commit([PutRecord(make_record("secret follow-up"), links=((EdgeKind.CAUSED_BY, a.id),))], clock)
    g = store.commit([PutRecord(make_record("secret globex", ("globex",)))], clock).records[0]
    store.erase_tenant("acme")
    assert store.get("acme", [a.id]) == {}
    assert store.keyword_search("acme", "secret", 10) == []
    assert store.versions(("acme",), "k") == [] and store.current(("acme",), "k") is None
    assert store.edges("acme", a.id) == []
    assert list(store.scan("acme")) == []
    assert all(item.tenant != "acme" for item in store.claim_outbox(100, 60))
    assert store.tenants() == ["globex"]
    assert [h[0] for h in store.keyword_search("globex", "secret", 10)] == [g.id]


GRAPH_STORE_CHECKS: list[Callable[[GraphStoreFactory], None]] = [
    check_commit_stamps_and_get,
    check_stale_clock_never_reorders,
    check_supersede_closes_old_version,
    check_failed_commit_writes_nothing,
    check_expire,
    check_keyword_search,
    check_authors,
    check_edges_and_traverse,
    check_set_confidence,
    check_outbox_lease_and_ack,
    check_outbox_embeds_content_then_context,
    check_keyword_search_reads_context,
    check_change_stamp_moves,
    check_scan_and_tenants,
    check_erase_tenant,
]
