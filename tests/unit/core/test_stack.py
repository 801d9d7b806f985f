from __future__ import annotations

from collections.abc import Iterator

import pytest

from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
from hive_middleware.stack import AsyncHiveStack, HiveStack
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import Action, AgentState, RouteDecision, Step


class _AlwaysSubmit:
    """A router that answers every state with ``submit`` (a test fake)."""

    def decide(self, state: AgentState) -> RouteDecision:
        return RouteDecision(Action(command="submit"), "submit", 0.99, False, "fake")


@pytest.fixture
def memory() -> Iterator[MemoryStore]:
    store = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(64), namespace=("t",))
    yield store
    store.close()


def _long_session() -> list[dict[str, str]]:
    log = "\n".join(f"tests/test_mod.py::test_case_{i} PASSED" for i in range(400))
    msgs: list[dict[str, str]] = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": "Fix it."}]
    for i in range(6):
        msgs.append({"role": "assistant", "content": f"run the tests, try {i}\n```\npytest tests\n```"})
        msgs.append({"role": "user", "content": f"OBSERVATION:\n{log}\n{i} passed"})
    return msgs


def test_without_router_every_step_escalates_and_is_compressed(memory: MemoryStore) -> None:
    stack = HiveStack(HiveConfig.load(environ={}), memory=memory)
    state = AgentState(goal="fix", history=(Step("ls", "a.py"),), step_index=1)
    result = stack.step(state, _long_session())
    assert result.decision.escalated and "no router model" in result.decision.reason
    assert result.compression is not None
    assert result.compression.stats  # compression reports what it did
    # Whatever was compressed away comes back byte for byte through the stack.
    originals = {m["content"] for m in _long_session()}
    for handle in result.compression.handles:
        assert stack.expand(handle) in originals


def test_router_answer_skips_compression(memory: MemoryStore) -> None:
    stack = HiveStack(HiveConfig.load(environ={}), memory=memory, policy=_AlwaysSubmit())
    result = stack.step(AgentState(goal="g"), _long_session())
    assert not result.decision.escalated
    assert result.decision.action == Action(command="submit")
    assert result.compression is None


def test_memory_calls_go_to_the_store(memory: MemoryStore) -> None:
    stack = HiveStack(HiveConfig.load(environ={}), memory=memory)
    first = stack.remember("deploys run on Fridays", key="deploy-day")
    assert stack.recall("deploy-day") == first
    assert [r.record.id for r in stack.search("Fridays deploys")][:1] == [first.id]
    stack.close()  # an injected store stays open
    assert stack.recall("deploy-day") == first


@pytest.mark.anyio
async def test_async_twin_shares_the_parts(memory: MemoryStore) -> None:
    stack = AsyncHiveStack(HiveStack(HiveConfig.load(environ={}), memory=memory))
    rec = await stack.remember("the API host is api-2", key="api-host")
    assert (await stack.recall("api-host")) == rec
    decision = await stack.route(AgentState(goal="g"))
    assert decision.escalated
