"""Conformance checks for :class:`~hive_middleware.ports.AuthorIndex` (over a record store)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from hive_middleware.errors import HiveNotFoundError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.writes import PutRecord, SetMetadata
from hive_middleware.ports import AuthorIndex, RecordStore
from hive_middleware.testing.conformance.graph_records import make_record

__all__ = ["AUTHOR_INDEX_CHECKS", "AuthoredRecordStore"]


class AuthoredRecordStore(RecordStore, AuthorIndex, Protocol):
    """A record store with an author index: what these checks drive."""


AuthoredFactory = Callable[[], AuthoredRecordStore]


def check_authors(make: AuthoredFactory) -> None:
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


def check_authors_of_failed_commit_are_not_listed(make: AuthoredFactory) -> None:
    """A commit that rolls back adds no author."""
    store, clock = make(), HybridClock()
    try:
        store.commit(
            [
                PutRecord(replace(make_record("a"), metadata={"author": "Ghost"})),
                PutRecord(make_record("x", key="absent"), require_current=True),
            ],
            clock,
        )
    except HiveNotFoundError:
        pass
    else:
        raise AssertionError("require_current on a missing key must raise HiveNotFoundError")
    assert store.authors("acme") == frozenset()


AUTHOR_INDEX_CHECKS: list[Callable[[AuthoredFactory], None]] = [
    check_authors,
    check_authors_of_failed_commit_are_not_listed,
]
"""Checks for stores with :class:`~hive_middleware.ports.AuthorIndex`."""
