"""Conformance checks for :class:`~hive_middleware.ports.EmbeddingOutbox` (over a record store)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from hive_middleware.errors import HiveNotFoundError
from hive_middleware.memory.clock import HybridClock
from hive_middleware.memory.records import EMBEDDED_CONTEXT_CHARS, embedding_text
from hive_middleware.memory.writes import OutboxItem, PutRecord
from hive_middleware.ports import EmbeddingOutbox, RecordStore
from hive_middleware.testing.conformance.graph_records import make_record

__all__ = ["OUTBOX_CHECKS", "OutboxRecordStore"]


class OutboxRecordStore(RecordStore, EmbeddingOutbox, Protocol):
    """A record store with an embedding outbox: what these checks drive."""


OutboxFactory = Callable[[], OutboxRecordStore]


def check_outbox_lease_and_ack(make: OutboxFactory) -> None:
    """Outbox rows are leased once, reclaimable after the lease, gone after ack."""
    store, clock = make(), HybridClock()
    recs = store.commit([PutRecord(make_record(f"r{i}")) for i in range(3)], clock).records
    store.commit([PutRecord(make_record("no vector"), embed=False)], clock)
    assert store.outbox_pending() == 3
    first = store.claim_outbox(2, lease_s=60)
    assert [i.record_id for i in first] == [recs[0].id, recs[1].id]
    assert first[0].content == "r0" and first[0].tenant == "acme" and first[0].attempts == 1
    rest = store.claim_outbox(10, lease_s=0.05)
    assert [i.record_id for i in rest] == [recs[2].id]
    assert store.claim_outbox(10, lease_s=60) == []
    assert store.outbox_pending() == 3
    time.sleep(0.1)
    again = store.claim_outbox(10, lease_s=60)
    assert [i.record_id for i in again] == [recs[2].id] and again[0].attempts == 2
    store.ack_outbox(first + again)
    store.ack_outbox([])
    assert store.outbox_pending() == 0


def check_outbox_embeds_content_then_context(make: OutboxFactory) -> None:
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


def check_failed_commit_queues_nothing(make: OutboxFactory) -> None:
    """A commit that rolls back leaves no outbox row."""
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
    assert store.outbox_pending() == 0 and store.claim_outbox(10, 60) == []


def check_concurrent_claims_never_overlap(make: OutboxFactory) -> None:
    """Workers claiming at once in several threads each get different rows, and all rows between them."""
    store, clock = make(), HybridClock()
    ids = {r.id for r in store.commit([PutRecord(make_record(f"r{i}")) for i in range(60)], clock).records}
    claimed: list[list[OutboxItem]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait()
            while batch := store.claim_outbox(3, lease_s=60):
                claimed[n].extend(batch)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    every = [item.record_id for batch in claimed for item in batch]
    assert len(every) == len(set(every)) and set(every) == ids


def check_erase_tenant_takes_outbox_rows(make: OutboxFactory) -> None:
    """``erase_tenant`` deletes the tenant's outbox rows, not another tenant's."""
    store, clock = make(), HybridClock()
    store.commit([PutRecord(make_record("secret plan")), PutRecord(make_record("more"))], clock)
    g = store.commit([PutRecord(make_record("secret globex", ("globex",)))], clock).records[0]
    store.erase_tenant("acme")
    assert store.outbox_pending() == 1
    assert [item.record_id for item in store.claim_outbox(100, 60)] == [g.id]


OUTBOX_CHECKS: list[Callable[[OutboxFactory], None]] = [
    check_outbox_lease_and_ack,
    check_outbox_embeds_content_then_context,
    check_failed_commit_queues_nothing,
    check_concurrent_claims_never_overlap,
    check_erase_tenant_takes_outbox_rows,
]
"""Checks for stores with :class:`~hive_middleware.ports.EmbeddingOutbox`."""
