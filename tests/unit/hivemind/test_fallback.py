"""The local queue of shared writes: order, bound, idempotent replay (a switchable back-end stands in for Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hive_middleware.errors import HiveStorageError
from hive_middleware.hivemind.fallback import (
    FallbackAgentRegistry,
    FallbackChannelLog,
    FallbackLearningLog,
    PendingQueue,
    Reconciler,
)
from hive_middleware.hivemind.model import AgentBeat
from hive_middleware.hivemind.sqlite import SQLiteAgentRegistry, SQLiteChannelLog, SQLiteLearningLog
from hive_middleware.pipeline.counters import Counters
from hive_middleware.testing.conformance.channel_log import make_event
from hive_middleware.testing.conformance.learning_log import make_step


class Switchable:
    """Wraps a real SQLite adapter; while ``down`` every call fails as an unreachable server does.

    ``land_then_fail`` makes the next write land and still report unreachable (a reply lost on the wire).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.land_then_fail = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.land_then_fail:
                self.land_then_fail = False
                target(*args, **kwargs)
                raise HiveStorageError("reply lost", unavailable=True)
            if self.down:
                raise HiveStorageError("server down", unavailable=True)
            return target(*args, **kwargs)

        return call


def _setup(tmp_path: Path, capacity: int = 100) -> tuple[Reconciler, Switchable, Switchable, Switchable, Counters]:
    channels = Switchable(SQLiteChannelLog.from_path(tmp_path / "remote"))
    agents = Switchable(SQLiteAgentRegistry.from_path(tmp_path / "remote"))
    learning = Switchable(SQLiteLearningLog.from_path(tmp_path / "remote"))
    stats = Counters()
    rec = Reconciler(channels, agents, learning, PendingQueue(tmp_path / "q.sqlite3", capacity=capacity),
                     stats=stats, start=False)
    return rec, channels, agents, learning, stats


def test_outage_queues_in_order_and_replays_once(tmp_path: Path) -> None:
    rec, channels, _, _, stats = _setup(tmp_path)
    log = FallbackChannelLog(rec)
    log.append(make_event("t", "c", 0))
    channels.down = True
    queued = [log.append(make_event("t", "c", n)) for n in range(1, 4)]
    assert all(e.cursor is None for e in queued) and rec.pending == 3
    channels.down = False
    # while the backlog exists, new writes queue behind it (order kept)
    assert log.append(make_event("t", "c", 4)).cursor is None
    assert rec.flush() == 4 and rec.pending == 0
    assert [e.content for e in log.read("t", "c", None, 100)] == [f"event {n}" for n in range(5)]
    assert stats.get("hivemind.queued") == 4 and stats.get("hivemind.flushed") == 4
    assert log.append(make_event("t", "c", 5)).cursor is not None  # direct again
    rec.close()


def test_a_write_that_landed_but_lost_its_reply_is_not_doubled(tmp_path: Path) -> None:
    rec, channels, _, learning, _ = _setup(tmp_path)
    channels.land_then_fail = True
    FallbackChannelLog(rec).append(make_event("t", "c", 1))
    learning.land_then_fail = True
    FallbackLearningLog(rec).append("t", make_step(1))
    assert rec.pending == 2
    rec.flush()
    assert len(channels.inner.read("t", "c", None, 100)) == 1
    assert len(learning.inner.read("t", None, 100)) == 1
    rec.close()


def test_queue_survives_a_restart(tmp_path: Path) -> None:
    rec, channels, _, _, _ = _setup(tmp_path)
    channels.down = True
    FallbackChannelLog(rec).append(make_event("t", "c", 1))
    rec.close()
    rec2, channels2, _, _, _ = _setup(tmp_path)
    assert rec2.pending == 1
    assert rec2.flush() == 1
    assert [e.content for e in channels2.inner.read("t", "c", None, 10)] == ["event 1"]
    rec2.close()


def test_full_queue_refuses_and_counts_but_beats_replace(tmp_path: Path) -> None:
    rec, channels, agents, _, stats = _setup(tmp_path, capacity=2)
    channels.down = agents.down = True
    log = FallbackChannelLog(rec)
    log.append(make_event("t", "c", 1))
    reg = FallbackAgentRegistry(rec)
    reg.beat("t", AgentBeat("a1", "busy", 1.0))
    for i in range(5):  # the agent's newest beat replaces its queued one
        reg.beat("t", AgentBeat("a1", f"busy {i}", 2.0 + i))
    assert rec.pending == 2
    with pytest.raises(HiveStorageError, match="pending_max") as info:
        log.append(make_event("t", "c", 2))
    assert info.value.fields["queue_full"] is True and stats.get("hivemind.refused") == 1
    channels.down = agents.down = False
    rec.flush()
    assert agents.inner.agents("t")[0].status == "busy 4"
    rec.close()


def test_other_back_end_errors_are_raised_not_queued(tmp_path: Path) -> None:
    rec, channels, _, _, _ = _setup(tmp_path)

    def broken(*args: Any) -> Any:
        raise HiveStorageError("WRONGTYPE", unavailable=False)

    channels.inner.append = broken
    with pytest.raises(HiveStorageError, match="WRONGTYPE"):
        FallbackChannelLog(rec).append(make_event("t", "c", 1))
    assert rec.pending == 0
    rec.close()
