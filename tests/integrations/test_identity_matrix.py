"""Two tenants x two agents x two threads through every integration: nobody overwrites anybody.

Each of the eight identities sends the *same* user turn as the first message of
its conversation (the case where keys made of a constant thread or a turn counter
collided). Afterwards each identity's namespace holds its own turn, each tenant
sees exactly its four, and tenant-scoped recall never returns the other tenant's.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hive_middleware.integrations.decorator import agent as hive_agent
from hive_middleware.integrations.langgraph import HiveMiddleware
from hive_middleware.integrations.langgraph_nodes import HiveGraphState, hive_memory_node
from hive_middleware.integrations.litellm import HiveCallback
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from hive_middleware.pipeline import Identity
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel

TURN = "Please run the deploy checklist for the payments service."
MATRIX = [Identity(t, a, th) for t, a, th in itertools.product(("acme", "globex"), ("billing", "support"),
                                                               ("thread-1", "thread-2"))]


def _assert_no_overwrites(stack: Any) -> None:
    memory = stack.memory
    memory.flush()
    for me in MATRIX:
        mine = [h.record for h in memory.search("deploy checklist payments", k=20, namespace=me.namespace)
                if h.record.content == TURN]
        assert len(mine) == 1, f"{me}: {len(mine)} copies of its turn"
        assert mine[0].namespace == me.namespace and mine[0].key.startswith("/".join(me.namespace) + "/")
        assert mine[0].metadata["type"] == "turn" and mine[0].valid_to is None  # never superseded
    for tenant in ("acme", "globex"):
        seen = [h.record for h in memory.search("deploy checklist payments", k=50, namespace=(tenant,))
                if h.record.content == TURN]
        assert sorted(r.namespace for r in seen) == sorted(m.namespace for m in MATRIX if m.tenant == tenant)


def test_langgraph_middleware(make_stack: Any) -> None:
    stack = make_stack()
    for me in MATRIX:
        model = ToolCallingFakeChatModel(responses=[AIMessage(content="done")])
        graph = create_agent(model, tools=[], middleware=[HiveMiddleware(stack, tenant=me.tenant, agent=me.agent,
                                                                          expand_tool=False)])
        graph.invoke({"messages": [{"role": "user", "content": TURN}]}, {"configurable": {"thread_id": me.thread}})
    _assert_no_overwrites(stack)


def test_langgraph_nodes(make_stack: Any) -> None:
    stack = make_stack()
    for me in MATRIX:
        builder = StateGraph(HiveGraphState)
        builder.add_node("memory", hive_memory_node(stack, tenant=me.tenant, agent=me.agent))
        builder.add_edge(START, "memory")
        builder.add_edge("memory", END)
        out = builder.compile().invoke({"messages": [{"role": "user", "content": TURN}]},
                                       {"configurable": {"thread_id": me.thread}})
        assert out["hive_thread"] == me.thread
    _assert_no_overwrites(stack)


def test_decorator(make_stack: Any) -> None:
    stack = make_stack()
    for me in MATRIX:
        @hive_agent(stack=stack, tenant=me.tenant, agent=me.agent, thread=me.thread, route=False)
        def step(messages: list[dict[str, Any]]) -> dict[str, Any]:
            return {"role": "assistant", "content": "done"}

        step([{"role": "user", "content": TURN}])
    _assert_no_overwrites(stack)


def test_litellm_callback(make_stack: Any) -> None:
    pytest.importorskip("fastapi", reason="the LiteLLM proxy extras (fastapi) are not installed")
    stack = make_stack()
    cb = HiveCallback(stack, recall_k=0, tenant_of=lambda key, data: str(data["user"]))

    async def run() -> None:
        for n, me in enumerate(MATRIX):
            call_id = f"call-{n}"
            data = {"model": "gpt-4o", "user": me.tenant, "litellm_call_id": call_id,
                    "litellm_session_id": me.thread, "metadata": {"hive_agent": me.agent},
                    "messages": [{"role": "user", "content": TURN}]}
            await cb.async_pre_call_hook(None, None, data, "completion")
            response = {"choices": [{"message": {"role": "assistant", "content": "done"}}]}
            await cb.async_log_success_event({"litellm_call_id": call_id, "model": "gpt-4o"}, response, None, None)

    asyncio.run(run())
    _assert_no_overwrites(stack)


def test_tenant_scoped_recall_never_crosses_tenants(make_stack: Any) -> None:
    stack = make_stack()
    stack.remember("The globex deploy key rotates on Mondays.", namespace=("globex", "ops", "t"))
    stack.remember("The acme deploy key rotates on Fridays.", namespace=("acme", "ops", "t"))
    pipeline = stack.pipeline()
    prepared = pipeline.prepare([{"role": "user", "content": "When does the deploy key rotate?"}],
                                Identity("acme", "billing", "t9"))
    assert prepared.recalled >= 1
    memory = str(prepared.memory)
    assert "Fridays" in memory and "Mondays" not in memory
