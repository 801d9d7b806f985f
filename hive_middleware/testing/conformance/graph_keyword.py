"""Conformance checks for :class:`~hive_middleware.ports.KeywordSearch` (over a record store)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from hive_middleware.errors import HiveNotFoundError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.writes import PutRecord, SetMetadata
from hive_middleware.ports import KeywordSearch, RecordStore
from hive_middleware.testing.conformance.graph_records import make_record

__all__ = ["KEYWORD_SEARCH_CHECKS", "SearchableRecordStore"]


class SearchableRecordStore(RecordStore, KeywordSearch, Protocol):
    """A record store with keyword search: what these checks drive."""


SearchableFactory = Callable[[], SearchableRecordStore]


def _ids(hits: list[tuple[str, float]]) -> list[str]:
    return [rid for rid, _ in hits]


def check_keyword_search(make: SearchableFactory) -> None:
    """Keyword search finds records at once, best first with positive scores, within the tenant only."""
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
    assert store.keyword_search("acme", "database", 0) == []
    assert len(store.keyword_search("globex", "database", 10)) == 1
    assert store.keyword_search("initech", "database", 10) == []


def check_keyword_search_any_term_ranked(make: SearchableFactory) -> None:
    """A record matching any query word is a hit; matching more words ranks higher; ``k`` caps."""
    store, clock = make(), HybridClock()
    both, kafka, redis, _ = store.commit(
        [
            PutRecord(make_record("the kafka consumer lost its redis connection")),
            PutRecord(make_record("kafka topics were rebalanced overnight by the platform team")),
            PutRecord(make_record("redis memory grew after the upgrade to version seven")),
            PutRecord(make_record("the office plants were watered")),
        ],
        clock,
    ).records
    hits = store.keyword_search("acme", "kafka redis", 10)
    assert _ids(hits)[0] == both.id and set(_ids(hits)) == {both.id, kafka.id, redis.id}
    assert all(score > 0 for _, score in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert len(store.keyword_search("acme", "kafka redis", 2)) == 2


def check_keyword_search_takes_any_text(make: SearchableFactory) -> None:
    """Operators, quotes, punctuation and non-ASCII in a query are plain text, never a syntax error."""
    store, clock = make(), HybridClock()
    target = store.commit([PutRecord(make_record("Zoë fixed the naïve parser in café.py"))], clock).records[0]
    for query in (
        "naïve",
        "Zoë's parser!",
        "parser:*",
        "parser & !café | (x",
        "-parser",
        '"naïve parser',
        "parser' OR 1=1; --",
        "parser\\ \x00 <-> NEAR/2",
    ):
        assert _ids(store.keyword_search("acme", query, 5)) == [target.id], query
    for query in ("&", "!!", "'", "-- ;", "\x00", "<->"):
        assert store.keyword_search("acme", query, 5) == [], query


def check_failed_commit_indexes_nothing(make: SearchableFactory) -> None:
    """A commit that rolls back leaves no keyword-index row behind."""
    store, clock = make(), HybridClock()
    try:
        store.commit(
            [PutRecord(make_record("kept out")), PutRecord(make_record("x", key="absent"), require_current=True)],
            clock,
        )
    except HiveNotFoundError:
        pass
    else:
        raise AssertionError("require_current on a missing key must raise HiveNotFoundError")
    assert store.keyword_search("acme", "kept", 5) == []


def check_keyword_search_reads_context(make: SearchableFactory) -> None:
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
    assert _ids(store.keyword_search("acme", "lasagne", 10)) == [recipe.id, reply.id]
    assert store.keyword_search("acme", "mail", 10)[0][0] == reply.id
    store.commit([SetMetadata("acme", other.id, {"context": "Did you go hiking?"})], clock)
    store.commit([SetMetadata("acme", reply.id, {"context": "Can you send the pictures?"})], clock)
    assert _ids(store.keyword_search("acme", "lasagne", 10)) == [recipe.id]
    assert _ids(store.keyword_search("acme", "pictures", 10)) == [reply.id]
    assert _ids(store.keyword_search("acme", "hiking", 10)) == [other.id]
    store.erase_tenant("acme")
    assert store.keyword_search("acme", "pictures", 10) == []


def check_keyword_search_finds_old_versions(make: SearchableFactory) -> None:
    """Superseded versions stay searchable (history is never deleted)."""
    store, clock = make(), HybridClock()
    old = store.commit([PutRecord(make_record("office in Paris", key="office"))], clock).records[0]
    new = store.commit([PutRecord(make_record("office in Berlin", key="office"))], clock).records[0]
    assert _ids(store.keyword_search("acme", "paris", 5)) == [old.id]
    assert set(_ids(store.keyword_search("acme", "office", 5))) == {old.id, new.id}


def check_erase_tenant_forgets_words(make: SearchableFactory) -> None:
    """``erase_tenant`` takes the tenant's keyword rows, not another tenant's."""
    store, clock = make(), HybridClock()
    store.commit([PutRecord(make_record("secret plan")), PutRecord(make_record("secret follow-up"))], clock)
    g = store.commit([PutRecord(make_record("secret globex", ("globex",)))], clock).records[0]
    store.erase_tenant("acme")
    assert store.keyword_search("acme", "secret", 10) == []
    assert _ids(store.keyword_search("globex", "secret", 10)) == [g.id]


KEYWORD_SEARCH_CHECKS: list[Callable[[SearchableFactory], None]] = [
    check_keyword_search,
    check_keyword_search_any_term_ranked,
    check_keyword_search_takes_any_text,
    check_failed_commit_indexes_nothing,
    check_keyword_search_reads_context,
    check_keyword_search_finds_old_versions,
    check_erase_tenant_forgets_words,
]
"""Checks for stores with :class:`~hive_middleware.ports.KeywordSearch`."""
