from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_middleware.config import HiveConfig
from hive_middleware.memory.store import MemoryStore
from hive_middleware.pipeline import Identity
from hive_middleware.stack import AsyncHiveStack, HiveStack
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import Action, AgentState, RouteDecision


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
    seen: list[list[dict[str, str]]] = []
    me = Identity("t", "agent", "run-1")
    outcome = stack.pipeline().step(_long_session(), me, lambda view: seen.append(view) or "answer")
    assert outcome.decision is None and outcome.response == "answer"
    assert any(e.kind == "escalated" and "no router model" in e.detail["reason"] for e in outcome.events)
    assert outcome.prepared is not None and outcome.prepared.compressed
    assert len(str(seen[0])) < len(str(_long_session())) / 2  # the model saw the compressed view
    # Whatever was compressed away comes back byte for byte through the stack.
    originals = {m["content"] for m in _long_session()}
    handles = [h for e in outcome.events if e.kind == "compressed" for h in [e.detail["handles"]]]
    assert handles and handles[0] > 0
    for message in seen[0]:
        for handle in re.findall(r"h-[0-9a-f]{12}", str(message.get("content"))):
            assert stack.expand(handle) in originals


def test_router_answer_skips_compression_and_the_model(memory: MemoryStore) -> None:
    stack = HiveStack(HiveConfig.load(environ={}), memory=memory, policy=_AlwaysSubmit())
    outcome = stack.pipeline().step(_long_session(), Identity("t", "agent", "run-1"), _never_called)
    assert outcome.decision is not None and outcome.decision.action == Action(command="submit")
    assert outcome.prepared is None and outcome.response is None


def _never_called(view: list[dict[str, str]]) -> str:
    raise AssertionError("a routed step must not call the model")


def test_compressed_away_originals_outlive_the_process(tmp_path: Path) -> None:
    config = HiveConfig.load(environ={}, data_dir=str(tmp_path / "hive"), memory={"embedder": "hashing"})
    with HiveStack(config) as stack:  # compresses before anything else touched its memory
        result = stack.compress(_long_session(), budget=500)
        assert result.handles
        originals = {h: stack.expand(h) for h in result.handles}
    with HiveStack(config) as reopened:
        for handle, original in originals.items():
            assert reopened.expand(handle) == original


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


def test_shadow_routing_setting_gives_the_stack_a_shadow_router(tmp_path: Path) -> None:
    from hive_middleware.routing.shadow import ShadowRouter

    config = HiveConfig.load(environ={}, data_dir=str(tmp_path), routing={"shadow": True})
    stack = HiveStack(config=config)
    try:
        assert isinstance(stack.policy, ShadowRouter)
    finally:
        stack.close()
    plain = HiveStack(config=HiveConfig.load(environ={}, data_dir=str(tmp_path / "b")))
    try:
        assert plain.policy is None
    finally:
        plain.close()
