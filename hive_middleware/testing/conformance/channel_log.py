"""Conformance checks for :class:`~hive_middleware.hivemind.ports.ChannelLog`.

Each check takes a factory returning a fresh, empty log; the SQLite and Redis
adapters (and the Redis one behind the local fallback) must pass all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hive_middleware.hivemind.model import ChannelEvent
from hive_middleware.hivemind.ports import ChannelLog

__all__ = ["CHANNEL_LOG_CHECKS", "make_event"]

ChannelLogFactory = Callable[[], ChannelLog]


def make_event(tenant: str, channel: str, n: int, *, event_id: str | None = None) -> ChannelEvent:
    """A test event whose content is ``f"event {n}"``."""
    return ChannelEvent(
        tenant=tenant,
        channel=channel,
        event_id=event_id or f"e{n}",
        record_id=f"r{n}",
        content=f"event {n}",
        agent="agent-1",
        published_at=datetime(2025, 1, 1, tzinfo=UTC),
        metadata={"n": n},
    )


def check_append_then_read_in_order(make: ChannelLogFactory) -> None:
    """Appended events come back oldest first, with increasing cursors, fields intact."""
    log = make()
    stored = [log.append(make_event("t", "c", n)) for n in range(5)]
    got = log.read("t", "c", None, 100)
    assert [e.content for e in got] == [f"event {n}" for n in range(5)]
    assert [e.cursor for e in got] == [e.cursor for e in stored]
    assert all(e.cursor is not None for e in got)
    assert got[2] == stored[2] and got[2].metadata == {"n": 2} and got[2].agent == "agent-1"
    assert got[0].published_at == datetime(2025, 1, 1, tzinfo=UTC)


def check_read_after_cursor_and_limit(make: ChannelLogFactory) -> None:
    """``after`` skips up to and including that cursor; ``limit`` caps the page."""
    log = make()
    stored = [log.append(make_event("t", "c", n)) for n in range(6)]
    page = log.read("t", "c", stored[1].cursor, 2)
    assert [e.content for e in page] == ["event 2", "event 3"]
    rest = log.read("t", "c", page[-1].cursor, 100)
    assert [e.content for e in rest] == ["event 4", "event 5"]
    assert log.read("t", "c", stored[-1].cursor, 100) == []


def check_append_is_idempotent_on_event_id(make: ChannelLogFactory) -> None:
    """A second append of an event id stores nothing and returns the first event."""
    log = make()
    first = log.append(make_event("t", "c", 1, event_id="same"))
    again = log.append(make_event("t", "c", 2, event_id="same"))
    assert again.cursor == first.cursor and again.content == "event 1"
    assert [e.content for e in log.read("t", "c", None, 100)] == ["event 1"]
    # the same id on another channel is another event
    log.append(make_event("t", "other", 3, event_id="same"))
    assert len(log.read("t", "other", None, 100)) == 1


def check_create_and_list_channels(make: ChannelLogFactory) -> None:
    """``create`` is idempotent, keeps the creation time, takes a new non-empty description;
    an append declares its channel."""
    log = make()
    made = log.create("t", "findings", "bugs", 1000.0)
    assert made.description == "bugs" and made.created_at.timestamp() == 1000.0
    again = log.create("t", "findings", "", 2000.0)
    assert again.description == "bugs" and again.created_at.timestamp() == 1000.0
    assert log.create("t", "findings", "bugs and fixes", 3000.0).description == "bugs and fixes"
    log.append(make_event("t", "auto", 1))
    listed = log.channels("t")
    assert [c.name for c in listed] == ["auto", "findings"]
    assert listed[1].description == "bugs and fixes" and listed[0].description == ""


def check_tenants_are_isolated(make: ChannelLogFactory) -> None:
    """A tenant never sees another tenant's channels or events, even with the same names."""
    log = make()
    log.create("a", "shared-name", "of a", 1.0)
    log.append(make_event("a", "shared-name", 1))
    assert log.channels("b") == []
    assert log.read("b", "shared-name", None, 100) == []
    assert log.last_cursor("b", "shared-name") is None
    log.append(make_event("b", "shared-name", 2))
    assert [e.content for e in log.read("a", "shared-name", None, 100)] == ["event 1"]
    assert [e.tenant for e in log.read("b", "shared-name", None, 100)] == ["b"]


def check_names_with_separators_do_not_collide(make: ChannelLogFactory) -> None:
    """Tenant/channel pairs that would join to the same string stay apart."""
    log = make()
    log.append(make_event("a:b", "c", 1))
    log.append(make_event("a", "b:c", 2))
    assert [e.content for e in log.read("a:b", "c", None, 100)] == ["event 1"]
    assert [e.content for e in log.read("a", "b:c", None, 100)] == ["event 2"]


def check_last_cursor(make: ChannelLogFactory) -> None:
    """``last_cursor`` is ``None`` on an empty channel, then the newest event's cursor."""
    log = make()
    assert log.last_cursor("t", "c") is None
    log.append(make_event("t", "c", 1))
    newest = log.append(make_event("t", "c", 2))
    assert log.last_cursor("t", "c") == newest.cursor
    assert log.read("t", "c", log.last_cursor("t", "c"), 10) == []


def check_blocking_read_wakes_on_append(make: ChannelLogFactory) -> None:
    """A blocked read returns soon after another thread appends, long before its timeout."""
    log = make()
    start = log.last_cursor("t", "c")
    got: list[ChannelEvent] = []
    elapsed: list[float] = []

    def reader() -> None:
        t0 = time.monotonic()
        got.extend(log.read("t", "c", start, 10, wait_s=4.0))
        elapsed.append(time.monotonic() - t0)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.2)
    log.append(make_event("t", "c", 1))
    thread.join(10)
    assert [e.content for e in got] == ["event 1"]
    assert elapsed[0] < 2.0, elapsed


def check_blocking_read_times_out_empty(make: ChannelLogFactory) -> None:
    """A blocked read with nothing appended returns ``[]`` after about ``wait_s``."""
    log = make()
    t0 = time.monotonic()
    assert log.read("t", "c", None, 10, wait_s=0.3) == []
    assert 0.2 <= time.monotonic() - t0 < 3.0


CHANNEL_LOG_CHECKS = [
    check_append_then_read_in_order,
    check_read_after_cursor_and_limit,
    check_append_is_idempotent_on_event_id,
    check_create_and_list_channels,
    check_tenants_are_isolated,
    check_names_with_separators_do_not_collide,
    check_last_cursor,
    check_blocking_read_wakes_on_append,
    check_blocking_read_times_out_empty,
]
