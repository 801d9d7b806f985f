"""Channels, Agents and Learning through HiveStack on the local SQLite back-end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveNotFoundError, HiveTenantError, HiveValidationError
from hive_middleware.hivemind import Agents, ChannelEvent, LearningStep
from hive_middleware.hivemind.sqlite import SQLiteAgentRegistry
from hive_middleware.stack import AsyncHiveStack, HiveStack
from hive_middleware.types import MemoryKind, MemoryRecord


def _config(path: Path, tenant: str = "acme") -> HiveConfig:
    return HiveConfig.load(
        data_dir=str(path), tenant=tenant, memory={"embedder": "hashing", "vector_index": "memory"}
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[HiveStack]:
    with HiveStack(_config(tmp_path)) as s:
        yield s


def test_remember_with_channels_publishes_the_committed_record(stack: HiveStack) -> None:
    stack.channels.create("findings", "what agents found")
    record = stack.remember("pytest fails on 3.12", channels=["findings", "all"], metadata={"author": "a1"})
    (event,) = stack.channels.feed("findings")
    assert (event.record_id, event.content, event.agent, event.tenant) == (record.id, record.content, "a1", "acme")
    assert event.event_id == record.id and event.cursor is not None
    assert [c.name for c in stack.channels.list()] == ["all", "findings"]
    # the record is committed: the memory store has it
    assert stack.memory.graph.get("acme", [record.id])[record.id].content == record.content


def test_bad_channel_name_refused_before_the_commit(stack: HiveStack) -> None:
    with pytest.raises(HiveValidationError, match="channel"):
        stack.remember("never stored", channels=["bad\nname"])
    assert stack.memory.graph.keyword_search("acme", "never stored", 5) == []


def test_publish_by_id_and_idempotent_republish(stack: HiveStack) -> None:
    record = stack.remember("the build needs libssl")
    first = stack.channels.publish("ops", record.id, agent="a2")
    again = stack.channels.publish("ops", record)
    assert again.cursor == first.cursor
    assert len(stack.channels.feed("ops")) == 1
    with pytest.raises(HiveNotFoundError, match="no memory record"):
        stack.channels.publish("ops", "0" * 32)


def test_publish_refuses_a_record_of_another_tenant(stack: HiveStack) -> None:
    foreign = MemoryRecord(id="x1", namespace=("other",), kind=MemoryKind.EPISODIC, content="c", recorded_at=1)
    with pytest.raises(HiveTenantError, match="other"):
        stack.channels.publish("ops", foreign)


def test_feed_pages_and_limit_is_checked(stack: HiveStack) -> None:
    for i in range(5):
        stack.remember(f"finding number {i}", channels=["f"])
    page = stack.channels.feed("f", limit=2)
    rest = stack.channels.feed("f", after=page[-1].cursor)
    assert [e.content for e in page + rest] == [f"finding number {i}" for i in range(5)]
    with pytest.raises(HiveValidationError, match="limit"):
        stack.channels.feed("f", limit=0)


def test_subscribe_pushes_new_events_only_and_resumes_from_cursor(stack: HiveStack) -> None:
    stack.remember("before the subscription", channels=["live"])
    got: list[ChannelEvent] = []
    with stack.channels.subscribe("live", wait_s=0.2) as sub:
        reader = threading.Thread(target=lambda: got.extend([sub.get(5.0), sub.get(5.0)]))  # type: ignore[list-item]
        reader.start()
        stack.remember("first after", channels=["live"])
        stack.remember("second after", channels=["live"])
        reader.join(10)
        cursor = sub.cursor
    assert [e.content for e in got] == ["first after", "second after"]
    stack.remember("while nobody listened", channels=["live"])
    with stack.channels.subscribe("live", after=cursor) as resumed:
        event = resumed.get(5.0)
    assert event is not None and event.content == "while nobody listened"


def test_closed_subscription_ends_iteration(stack: HiveStack) -> None:
    sub = stack.channels.subscribe("quiet", wait_s=0.1)
    threading.Timer(0.3, sub.close).start()
    assert list(sub) == []


@pytest.mark.anyio
async def test_async_subscription_and_twins(tmp_path: Path) -> None:
    stack = AsyncHiveStack(HiveStack(_config(tmp_path)))
    await stack.channels.acreate("async", "coroutines")
    sub = await stack.channels.asubscribe("async", wait_s=0.2)
    record = await stack.remember("async finding", channels=["async"])
    async with sub:
        event = await sub.__anext__()
    assert event.record_id == record.id
    assert [c.name for c in await stack.channels.alist()] == ["async"]
    assert len(await stack.channels.afeed("async")) == 1
    await stack.agents.aregister("a1", "idle", {"k": 1})
    await stack.agents.aheartbeat("a1", "busy")
    assert [(a.agent, a.status) for a in await stack.agents.alist()] == [("a1", "busy")]
    step = await stack.learning.aappend(_step("s1"))
    assert [s.cursor for s in await stack.learning.aread()] == [step.cursor]
    await stack.aclose()


def _step(step_id: str) -> LearningStep:
    from datetime import UTC, datetime

    return LearningStep(step_id, "a1", "run-1", "state", "ls", "ls -la", "ok", datetime(2025, 1, 1, tzinfo=UTC))


def test_agents_alive_follows_the_ttl(tmp_path: Path) -> None:
    now = [1000.0]
    reg = SQLiteAgentRegistry.from_path(tmp_path)
    agents = Agents(reg, "acme", ttl_s=30.0, clock=lambda: now[0])
    agents.register("a1", "idle", {"host": "m1"})
    now[0] += 10
    agents.register("a2", "idle")
    now[0] += 25  # a1 last seen 35 s ago, a2 25 s ago
    listed = {a.agent: a for a in agents.list()}
    assert (listed["a1"].alive, listed["a2"].alive) == (False, True)
    agents.heartbeat("a1", "back")
    listed = {a.agent: a for a in agents.list()}
    assert listed["a1"].alive and listed["a1"].status == "back" and dict(listed["a1"].meta) == {"host": "m1"}
    assert agents.for_tenant("other").list() == []
    with pytest.raises(HiveValidationError, match="agent"):
        agents.heartbeat("", "x")
    reg.close()


def test_running_beats_in_the_background_and_says_stopped(tmp_path: Path) -> None:
    reg = SQLiteAgentRegistry.from_path(tmp_path)
    agents = Agents(reg, "acme", heartbeat_s=0.05)
    with agents.running("worker", "starting", {"pid": 1}) as set_status:
        set_status("working")
        first = agents.list()[0].last_seen
        deadline = threading.Event()
        deadline.wait(0.3)
        assert agents.list()[0].status == "working"
        assert agents.list()[0].last_seen > first
    assert agents.list()[0].status == "stopped"
    reg.close()


def test_learning_record_read_and_idempotence(stack: HiveStack) -> None:
    a = stack.learning.record(agent="a1", thread="t1", state="s", predicted=None, actual="pytest", outcome="fail")
    b = stack.learning.append(_step("fixed-id"))
    again = stack.learning.append(_step("fixed-id"))
    assert again.cursor == b.cursor
    assert [s.step.step_id for s in stack.learning.read()] == [a.step.step_id, "fixed-id"]
    with pytest.raises(HiveValidationError, match="actual"):
        stack.learning.append(LearningStep("x", "a", "t", "s", None, 5, "ok", a.step.recorded_at))  # type: ignore[arg-type]


def test_tenants_of_one_data_dir_are_isolated(tmp_path: Path) -> None:
    with HiveStack(_config(tmp_path, "acme")) as acme, HiveStack(_config(tmp_path, "globex")) as globex:
        acme.remember("acme secret", channels=["news"])
        acme.agents.register("a1")
        acme.learning.append(_step("s"))
        assert globex.channels.list() == [] and globex.channels.feed("news") == []
        assert globex.agents.list() == [] and globex.learning.read() == []
        globex.remember("globex news", channels=["news"])
        assert [e.content for e in acme.channels.feed("news")] == ["acme secret"]
