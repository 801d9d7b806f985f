"""Twenty concurrent conversations through one middleware and one callback: recall stays per call.

Each conversation has a secret remembered in its own thread beforehand. Every
model call must get recall (nothing shared between calls may switch it off), and
none may see another tenant's secret, nor, with ``recall_scope="thread"``,
another thread's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hive_middleware.integrations.langgraph import HiveMiddleware
from hive_middleware.integrations.litellm import HiveCallback
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage

from hive_middleware.pipeline import MEMORY_MARKER
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel

CONVERSATIONS = 20


def _tenant(n: int) -> str:
    return "acme" if n % 2 else "globex"


def _secret(n: int) -> str:
    return f"vault code for the archive is {1000 + n}"


def _seed(stack: Any, agent: str) -> None:
    for n in range(CONVERSATIONS):
        stack.remember(_secret(n), namespace=(_tenant(n), agent, f"conv-{n}"))
    stack.memory.flush()


def _mentioned(text: str) -> set[int]:
    """The conversations whose secret or question a memory message shows."""
    return {n for n in range(CONVERSATIONS) if str(1000 + n) in text or f"#{n}#" in text}


def _check(n: int, memory_text: str, scope: str) -> None:
    assert memory_text.startswith(MEMORY_MARKER), f"conversation {n} got no recall"
    others = _mentioned(memory_text) - {n}
    assert all(_tenant(m) == _tenant(n) for m in others), f"conversation {n} saw another tenant: {others}"
    if scope == "thread":
        assert not others, f"conversation {n} saw another thread: {others}"
        assert str(1000 + n) in memory_text


@pytest.mark.parametrize("scope", ["tenant", "thread"])
def test_middleware_async(make_stack: Any, scope: str) -> None:
    stack = make_stack()
    _seed(stack, "agent")
    seen: dict[int, str] = {}

    def respond(messages: list[BaseMessage]) -> BaseMessage:
        n = int(next(m.text for m in messages if m.type == "human").split("#")[1])
        seen[n] = "\n".join(m.text for m in messages if m.type == "system" and m.text.startswith(MEMORY_MARKER))
        return AIMessage(content="ok")

    def build(tenant: str) -> Any:
        middleware = HiveMiddleware(stack, tenant=tenant, recall_scope=scope,  # type: ignore[arg-type]
                                    expand_tool=False)
        return create_agent(ToolCallingFakeChatModel(respond=respond), tools=[], middleware=[middleware])

    agents = {t: build(t) for t in ("acme", "globex")}

    async def one(n: int) -> None:
        await agents[_tenant(n)].ainvoke(
            {"messages": [{"role": "user", "content": f"conversation #{n}#: what is the vault code for the archive?"}]},
            {"configurable": {"thread_id": f"conv-{n}"}})

    async def run() -> None:
        await asyncio.gather(*(one(n) for n in range(CONVERSATIONS)))

    asyncio.run(run())
    assert sorted(seen) == list(range(CONVERSATIONS))
    for n, memory_text in seen.items():
        _check(n, memory_text, scope)


@pytest.mark.parametrize("scope", ["tenant", "thread"])
def test_callback_async(make_stack: Any, scope: str) -> None:
    pytest.importorskip("fastapi", reason="the LiteLLM proxy extras (fastapi) are not installed")
    stack = make_stack()
    _seed(stack, "litellm")
    cb = HiveCallback(stack, recall_k=3, recall_scope=scope, compress=False,  # type: ignore[arg-type]
                      tenant_of=lambda key, data: str(data["user"]))

    async def one(n: int) -> str:
        data = {"model": "gpt-4o", "user": _tenant(n), "litellm_call_id": f"c{n}", "litellm_session_id": f"conv-{n}",
                "messages": [{"role": "user", "content": f"conversation #{n}#: what is the vault code for the archive?"}]}
        out = await cb.async_pre_call_hook(None, None, data, "completion")
        assert isinstance(out, dict)
        return "\n".join(str(m["content"]) for m in out["messages"] if str(m["content"]).startswith(MEMORY_MARKER))

    async def run() -> list[str]:
        return await asyncio.gather(*(one(n) for n in range(CONVERSATIONS)))

    for n, memory_text in enumerate(asyncio.run(run())):
        _check(n, memory_text, scope)
