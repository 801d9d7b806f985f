"""The local SQLite back-ends pass every hive-mind conformance suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.hivemind.sqlite import SQLiteAgentRegistry, SQLiteChannelLog, SQLiteLearningLog
from hive_middleware.testing.conformance.agent_registry import AGENT_REGISTRY_CHECKS
from hive_middleware.testing.conformance.channel_log import CHANNEL_LOG_CHECKS
from hive_middleware.testing.conformance.learning_log import LEARNING_LOG_CHECKS


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Callable[[type[Any]], Any]]:
    made: list[Any] = []

    def make(cls: type[Any]) -> Any:
        adapter = cls.from_path(tmp_path / f"d{len(made)}")
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.mark.parametrize("check", CHANNEL_LOG_CHECKS, ids=lambda c: c.__name__)
def test_channel_log(check: Callable[[Any], None], opened: Callable[[type[Any]], Any]) -> None:
    check(lambda: opened(SQLiteChannelLog))


@pytest.mark.parametrize("check", AGENT_REGISTRY_CHECKS, ids=lambda c: c.__name__)
def test_agent_registry(check: Callable[[Any], None], opened: Callable[[type[Any]], Any]) -> None:
    check(lambda: opened(SQLiteAgentRegistry))


@pytest.mark.parametrize("check", LEARNING_LOG_CHECKS, ids=lambda c: c.__name__)
def test_learning_log(check: Callable[[Any], None], opened: Callable[[type[Any]], Any]) -> None:
    check(lambda: opened(SQLiteLearningLog))


def test_events_survive_reopen_and_other_connections_see_them(tmp_path: Path) -> None:
    first = SQLiteChannelLog.from_path(tmp_path)
    from hive_middleware.testing.conformance.channel_log import make_event

    stored = first.append(make_event("t", "c", 1))
    other = SQLiteChannelLog.from_path(tmp_path, poll_s=0.01)
    assert other.read("t", "c", None, 10) == [stored]
    first.close()
    other.close()
    reopened = SQLiteChannelLog.from_path(tmp_path)
    assert [e.content for e in reopened.read("t", "c", None, 10)] == ["event 1"]
    reopened.close()


def test_foreign_cursor_is_refused(tmp_path: Path) -> None:
    from hive_middleware.errors import HiveValidationError

    log = SQLiteChannelLog.from_path(tmp_path)
    with pytest.raises(HiveValidationError, match="cursor"):
        log.read("t", "c", "1700000000000-0", 10)
    log.close()
