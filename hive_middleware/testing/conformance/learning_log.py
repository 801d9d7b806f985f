"""Conformance checks for :class:`~hive_middleware.hivemind.ports.LearningLog`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hive_middleware.hivemind.model import LearningStep
from hive_middleware.hivemind.ports import LearningLog

__all__ = ["LEARNING_LOG_CHECKS", "make_step"]

LearningLogFactory = Callable[[], LearningLog]


def make_step(n: int, *, step_id: str | None = None) -> LearningStep:
    """A test step whose actual action is ``f"cmd {n}"``."""
    return LearningStep(
        step_id=step_id or f"s{n}",
        agent="agent-1",
        thread="run-1",
        state=f"state {n}",
        predicted=None if n % 2 else f"cmd {n}",
        actual=f"cmd {n}",
        outcome="ok",
        recorded_at=datetime(2025, 1, 1, 12, tzinfo=UTC),
        metadata={"n": n},
    )


def check_append_then_read_in_order(make: LearningLogFactory) -> None:
    """Steps come back in append order with every field, cursors increasing."""
    log = make()
    stored = [log.append("t", make_step(n)) for n in range(4)]
    got = log.read("t", None, 100)
    assert [s.step for s in got] == [make_step(n) for n in range(4)]
    assert [s.cursor for s in got] == [s.cursor for s in stored]


def check_read_after_and_limit(make: LearningLogFactory) -> None:
    """``after`` and ``limit`` page through the stream."""
    log = make()
    stored = [log.append("t", make_step(n)) for n in range(5)]
    page = log.read("t", stored[0].cursor, 2)
    assert [s.step.actual for s in page] == ["cmd 1", "cmd 2"]
    assert [s.step.actual for s in log.read("t", page[-1].cursor, 10)] == ["cmd 3", "cmd 4"]


def check_idempotent_on_step_id(make: LearningLogFactory) -> None:
    """A second append of a step id stores nothing and returns the first step."""
    log = make()
    first = log.append("t", make_step(1, step_id="x"))
    again = log.append("t", make_step(2, step_id="x"))
    assert again == first
    assert len(log.read("t", None, 100)) == 1


def check_tenants_are_isolated(make: LearningLogFactory) -> None:
    """A tenant never reads another tenant's steps; the same step id in two tenants is two steps."""
    log = make()
    log.append("a", make_step(1, step_id="same"))
    assert log.read("b", None, 100) == []
    log.append("b", make_step(2, step_id="same"))
    assert [s.step.actual for s in log.read("a", None, 100)] == ["cmd 1"]
    assert [s.step.actual for s in log.read("b", None, 100)] == ["cmd 2"]


LEARNING_LOG_CHECKS = [
    check_append_then_read_in_order,
    check_read_after_and_limit,
    check_idempotent_on_step_id,
    check_tenants_are_isolated,
]
