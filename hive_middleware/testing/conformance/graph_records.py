"""Conformance checks for :class:`~hive_middleware.ports.RecordStore`: commits, versions, reads, erase."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from hive_middleware.errors import HiveNotFoundError, HiveValidationError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.records import new_record_id
from hive_middleware.memory.writes import Expire, PutRecord, RestoreRecords, SetConfidence, SetMetadata
from hive_middleware.ports import RecordStore
from hive_middleware.types import MemoryKind, MemoryRecord

__all__ = ["RECORD_STORE_CHECKS", "RecordStoreFactory", "make_record"]

RecordStoreFactory = Callable[[], RecordStore]
"""Builds a fresh, empty store (each call a new one, possibly over the same back-end)."""


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


def check_commit_stamps_and_get(make: RecordStoreFactory) -> None:
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
    assert store.get("acme", []) == {} and store.get("globex", [a.id]) == {}


def check_fields_round_trip(make: RecordStoreFactory) -> None:
    """Every field of a record comes back as it was stored (unicode, metadata, tags, validity)."""
    store, clock = make(), HybridClock()
    rec = replace(
        make_record("naïve café ☕ \"quoted\" 'x' \\ back", ("acme", "agent-1", "thread 7"), key="k/1"),
        kind=MemoryKind.PROCEDURAL,
        metadata={"author": "Zoë", "n": [1, 2.5, None, True], "nested": {"a": "b"}},
        confidence=0.75,
        trust=0.5,
        tags=("deploy", "ops"),
        valid_from=datetime(2024, 2, 29, 12, 30, tzinfo=UTC),
        valid_to=datetime(2025, 1, 1, tzinfo=UTC),
    )
    stored = store.commit([PutRecord(rec)], clock).records[0]
    got = store.get("acme", [rec.id])[rec.id]
    assert got == stored
    assert got.metadata == rec.metadata and got.tags == ("deploy", "ops") and got.valid_to == rec.valid_to
    assert store.current(("acme", "agent-1", "thread 7"), "k/1") == stored


def check_stale_clock_never_reorders(make: RecordStoreFactory) -> None:
    """A writer whose wall clock is far behind still stamps after what is stored."""
    store = make()
    first = store.commit([PutRecord(make_record("now"))], HybridClock()).stamp
    stale = HybridClock(wall_ms=lambda: 1_000)  # 1970
    second = store.commit([PutRecord(make_record("later"))], stale).stamp
    assert second > first


def check_supersede_closes_old_version(make: RecordStoreFactory) -> None:
    """A keyed put closes the current version and keeps both in ``versions``, with reasons."""
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
    assert versions[0].reason == "first"
    assert versions[1].reason == "moved" and versions[1].record.expired_at is None
    # Keys are per namespace: the same key elsewhere is another memory.
    assert store.current(("acme", "other"), "city") is None
    assert store.versions(("acme", "other"), "city") == []


def check_same_key_twice_in_one_commit(make: RecordStoreFactory) -> None:
    """A commit that puts one key twice leaves the second current and the first superseded by it."""
    store, clock = make(), HybridClock()
    first, second = make_record("v1", key="k"), make_record("v2", key="k")
    result = store.commit([PutRecord(first), PutRecord(second)], clock)
    assert result.expired == (first.id,)
    current = store.current(("acme",), "k")
    assert current is not None and current.id == second.id
    assert [v.superseded_by for v in store.versions(("acme",), "k")] == [second.id, None]


def check_failed_commit_writes_nothing(make: RecordStoreFactory) -> None:
    """A failing op rolls the whole commit back; a second current version is refused."""
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
    assert list(store.scan("acme")) == []
    store.commit([PutRecord(make_record("v1", key="k"))], clock)
    rejected = make_record("v2", key="k")
    try:
        store.commit([PutRecord(make_record("bystander")), PutRecord(rejected, supersede=False)], clock)
    except HiveValidationError:
        pass
    else:
        raise AssertionError("a second current version of a key must be refused")
    assert [r.content for r in store.scan("acme")] == ["v1"]


def check_expire(make: RecordStoreFactory) -> None:
    """``Expire`` by key or id sets ``expired_at`` only; a missing key raises."""
    store, clock = make(), HybridClock()
    rec = store.commit([PutRecord(make_record("fact", key="k"))], clock).records[0]
    result = store.commit([Expire(("acme",), "wrong", key="k")], clock)
    assert result.expired == (rec.id,)
    assert store.current(("acme",), "k") is None
    version = store.versions(("acme",), "k")[0]
    assert version.expired_reason == "wrong" and version.record.valid_to is None
    assert version.record.expired_at == result.stamp
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
    # The key is free again: a new version needs no supersession.
    assert store.commit([PutRecord(make_record("fact 2", key="k"))], clock).expired == ()


def check_set_confidence_and_metadata(make: RecordStoreFactory) -> None:
    """``SetConfidence`` and ``SetMetadata`` update in place; an unknown id or tenant raises."""
    store, clock = make(), HybridClock()
    rec = store.commit([PutRecord(make_record("x"))], clock).records[0]
    store.commit([SetConfidence("acme", rec.id, 0.25)], clock)
    store.commit([SetMetadata("acme", rec.id, {"uses": 3})], clock)
    got = store.get("acme", [rec.id])[rec.id]
    assert got.confidence == 0.25 and got.metadata == {"uses": 3} and got.recorded_at == rec.recorded_at
    for op in (SetConfidence("globex", rec.id, 0.5), SetMetadata("acme", "nope", {})):
        try:
            store.commit([op], clock)
        except HiveNotFoundError:
            continue
        raise AssertionError(f"{type(op).__name__} on an unknown record must raise HiveNotFoundError")


def check_restore_records(make: RecordStoreFactory) -> None:
    """``RestoreRecords`` keeps ids, stamps and expiry; later stamps sort after; clashes are refused."""
    store, clock = make(), HybridClock()
    old = replace(make_record("old", key="k"), recorded_at=5_000 << 16, expired_at=6_000 << 16)
    cur = replace(make_record("cur", key="k"), recorded_at=6_000 << 16)
    future = replace(make_record("from the future"), recorded_at=clock.tick() + (10_000 << 16))
    store.commit([RestoreRecords((old, cur, future))], clock)
    got = store.get("acme", [old.id, cur.id, future.id])
    assert got[old.id].expired_at == 6_000 << 16 and got[cur.id].recorded_at == 6_000 << 16
    current = store.current(("acme",), "k")
    assert current is not None and current.id == cur.id
    later = store.commit([PutRecord(make_record("later"))], HybridClock()).stamp
    assert later > future.recorded_at
    for clash in (RestoreRecords((cur,)), RestoreRecords((make_record("twin", key="k"),))):
        try:
            store.commit([clash], clock)
        except HiveValidationError:
            continue
        raise AssertionError("restoring an existing id or a second current key must be refused")


def check_change_stamp_moves(make: RecordStoreFactory) -> None:
    """``change_stamp`` differs after every commit."""
    store, clock = make(), HybridClock()
    seen = {store.change_stamp()}
    for i in range(3):
        store.commit([PutRecord(make_record(f"c{i}"))], clock)
        stamp = store.change_stamp()
        assert stamp not in seen
        seen.add(stamp)


def check_scan_and_tenants(make: RecordStoreFactory) -> None:
    """``scan`` lists a tenant's records by stamp (optionally since one); ``tenants`` lists owners."""
    store, clock = make(), HybridClock()
    assert store.tenants() == []
    first = store.commit([PutRecord(make_record("one"))], clock).stamp
    store.commit([PutRecord(make_record("two")), PutRecord(make_record("g", ("globex",)))], clock)
    assert [r.content for r in store.scan("acme")] == ["one", "two"]
    assert [r.content for r in store.scan("acme", since=first)] == ["two"]
    assert store.tenants() == ["acme", "globex"]


def check_concurrent_commits_keep_one_current_version(make: RecordStoreFactory) -> None:
    """Threads superseding one key at once leave exactly one current version and a single chain."""
    store = make()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        clock = HybridClock()
        try:
            start.wait()
            for i in range(5):
                store.commit([PutRecord(make_record(f"w{n}-{i}", key="hot"))], clock)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    versions = store.versions(("acme",), "hot")
    assert len(versions) == 20
    assert [v.record.expired_at is None for v in versions].count(True) == 1
    # Each version but the last is superseded by the next one: one chain, no fork.
    assert [v.superseded_by for v in versions[:-1]] == [v.record.id for v in versions[1:]]
    current = store.current(("acme",), "hot")
    assert current is not None and current.id == versions[-1].record.id


def check_erase_tenant(make: RecordStoreFactory) -> None:
    """``erase_tenant`` deletes every record and version of that tenant only."""
    store, clock = make(), HybridClock()
    a = store.commit([PutRecord(make_record("secret plan", key="k"))], clock).records[0]
    store.commit([PutRecord(make_record("secret plan v2", key="k"))], clock)
    g = store.commit([PutRecord(make_record("secret globex", ("globex",)))], clock).records[0]
    before = store.change_stamp()
    store.erase_tenant("acme")
    assert store.change_stamp() != before
    assert store.get("acme", [a.id]) == {}
    assert store.versions(("acme",), "k") == [] and store.current(("acme",), "k") is None
    assert list(store.scan("acme")) == []
    assert store.tenants() == ["globex"]
    assert set(store.get("globex", [g.id])) == {g.id}
    # The erased tenant can start again.
    store.commit([PutRecord(make_record("fresh start", key="k"))], clock)
    assert [v.record.content for v in store.versions(("acme",), "k")] == ["fresh start"]


RECORD_STORE_CHECKS: list[Callable[[RecordStoreFactory], None]] = [
    check_commit_stamps_and_get,
    check_fields_round_trip,
    check_stale_clock_never_reorders,
    check_supersede_closes_old_version,
    check_same_key_twice_in_one_commit,
    check_failed_commit_writes_nothing,
    check_expire,
    check_set_confidence_and_metadata,
    check_restore_records,
    check_change_stamp_moves,
    check_scan_and_tenants,
    check_concurrent_commits_keep_one_current_version,
    check_erase_tenant,
]
"""Checks every graph store passes (records are the part every back-end has)."""
