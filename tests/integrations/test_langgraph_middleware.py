"""HiveMiddleware in a real ``create_agent`` agent with a fake tool-calling model (invoke and ainvoke)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hive_middleware.integrations.langgraph import HiveMiddleware
from hive_middleware.integrations.tool_cache import ToolOutputCache
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from hive_middleware.testing.chat_models import ToolCallingFakeChatModel, tool_call_message
from hive_middleware.types import Action, AgentState, RouteDecision

BIG = "\n".join(f"src/pkg/mod_{i}.py:{i}:    value_{i} = compute_{i}(x)" for i in range(300))


class ReadmeAfterLs:
    """A router that knows one mechanical step: after ``ls`` comes ``cat README.md``."""

    def __init__(self) -> None:
        self.states: list[AgentState] = []

    def decide(self, state: AgentState) -> RouteDecision:
        self.states.append(state)
        if state.history and state.history[-1].action == "ls":
            return RouteDecision(Action("cat README.md"), "view_file", 0.99, False, "after ls")
        return RouteDecision(None, None, 0.2, True, "not mechanical")


def _tools(calls: list[str]) -> list[Any]:
    @tool
    def bash(command: str) -> str:
        """Run a shell command."""
        calls.append(command)
        if command.startswith("grep"):
            return BIG
        return f"ran {command}"

    return [bash]


def _model() -> ToolCallingFakeChatModel:
    return ToolCallingFakeChatModel(responses=[
        tool_call_message("bash", {"command": "grep -rn compute src"}, "c1"),
        tool_call_message("bash", {"command": "grep -rn compute src -i"}, "c2"),
        tool_call_message("bash", {"command": "ls"}, "c3"),
        AIMessage(content="The fix goes in mod_7.py."),
    ])


def test_agent_routes_compresses_and_remembers(make_stack: Any) -> None:
    policy = ReadmeAfterLs()
    stack = make_stack(policy=policy)
    stack.memory.remember("Earlier run: the compute functions live in src/pkg.", key="note",
                          metadata={"thread": "older"})
    events: list[Any] = []
    calls: list[str] = []
    model = _model()
    middleware = HiveMiddleware(stack, on_event=events.append)
    agent = create_agent(model, tools=_tools(calls), middleware=[middleware])
    out = agent.invoke({"messages": [{"role": "user", "content": "Where do the compute functions live?"}]})
    assert middleware.flush()

    # The router answered the step after `ls` without the model: 4 model calls for 5 AI turns.
    assert calls == ["grep -rn compute src", "grep -rn compute src -i", "ls", "cat README.md"]
    assert len(model.seen) == 4
    routed = [m for m in out["messages"] if isinstance(m, AIMessage) and m.response_metadata.get("hive_routed")]
    assert [m.tool_calls[0]["args"] for m in routed] == [{"command": "cat README.md"}]
    kinds = [e["kind"] for e in out["hive_events"]]
    assert kinds.count("routed") == 1 and "compressed" in kinds and "remembered" in kinds
    # The router saw the state built from the conversation.
    assert policy.states[-1].goal == "Where do the compute functions live?"

    # The model saw a compressed view and the marked memory, never the raw grep twice.
    last_view = model.seen[-1]
    assert sum(len(m.text) for m in last_view) < 2 * len(BIG)
    assert any(m.type == "system" and m.text.startswith("[hive memory]") for m in last_view)
    assert "compute functions live in src/pkg" in last_view[0].text
    # The stored conversation is untouched.
    assert sum(1 for m in out["messages"] if m.type == "tool" and m.text == BIG) == 2

    # Causal memory: result --caused_by--> call --caused_by--> turn.
    result = next(r.record for r in stack.memory.search("ran cat README.md", k=10)
                  if r.record.key and "/result/" in r.record.key)
    assert result.namespace[:2] == ("acme", "agent") and result.namespace[2].startswith("run-")
    chain = [step.record.metadata["type"] for step in stack.why(result.key, namespace=result.namespace)]
    assert chain[0] == "tool_call" and chain[-1] == "turn"


def test_agent_async_invoke_and_tool_cache(make_stack: Any, tmp_path: Path) -> None:
    stack = make_stack(policy=ReadmeAfterLs())
    calls: list[str] = []
    cache = ToolOutputCache(read_only_tools={"bash"})
    model = ToolCallingFakeChatModel(responses=[
        tool_call_message("bash", {"command": "grep -rn compute src"}, "c1"),
        tool_call_message("bash", {"command": "grep  -rn compute src"}, "c2"),
        AIMessage(content="done"),
    ])
    agent = create_agent(model, tools=_tools(calls), middleware=[HiveMiddleware(stack, tool_cache=cache)])
    out = asyncio.run(agent.ainvoke({"messages": [{"role": "user", "content": "find compute"}]}))
    assert calls == ["grep -rn compute src"]  # the second, same after normalisation, came from cache
    assert cache.stats.hits == 1
    assert out["messages"][-1].content == "done"
    assert [e["kind"] for e in out["hive_events"]].count("escalated") == 3


def test_route_check_replaces_a_routed_action(make_stack: Any) -> None:
    stack = make_stack(policy=ReadmeAfterLs())
    calls: list[str] = []
    model = ToolCallingFakeChatModel(responses=[tool_call_message("bash", {"command": "ls"}, "c1"),
                                                AIMessage(content="ok")])
    middleware = HiveMiddleware(stack, route_check=lambda decision, messages: Action("cat setup.py"))
    agent = create_agent(model, tools=_tools(calls), middleware=[middleware])
    out = agent.invoke({"messages": [{"role": "user", "content": "look around"}]})
    assert calls == ["ls", "cat setup.py"]
    assert "route_replaced" in [e["kind"] for e in out["hive_events"]]


class ExplodingStack:
    def compress(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("boom")

    route = search = remember = recall = compress


def test_hive_errors_fail_open() -> None:
    calls: list[str] = []
    model = _model()
    agent = create_agent(model, tools=_tools(calls), middleware=[HiveMiddleware(ExplodingStack(), expand_tool=False)])
    out = agent.invoke({"messages": [{"role": "user", "content": "go"}]})
    assert out["messages"][-1].content == "The fix goes in mod_7.py."
    assert len(model.seen) == 4
    assert any(e["kind"] == "hook_error" for e in out["hive_events"])


def test_each_message_is_converted_to_openai_once(make_stack: Any) -> None:
    stack = make_stack(policy=ReadmeAfterLs())
    calls: list[str] = []
    middleware = HiveMiddleware(stack, expand_tool=False)
    agent = create_agent(_model(), tools=_tools(calls), middleware=[middleware])
    out = agent.invoke({"messages": [{"role": "user", "content": "Where do the compute functions live?"}]})
    # Hooks before, around and after each model call read the conversation; each message converts once.
    assert middleware.convert.converted == len(out["messages"])
