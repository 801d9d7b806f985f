"""Hive nodes in a hand-built StateGraph with LangGraph's ToolNode."""

from __future__ import annotations

from typing import Any

from hive_middleware.integrations.langgraph_nodes import (
    HiveGraphState,
    hive_compress_node,
    hive_memory_node,
    hive_router_node,
    model_input,
)
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from hive_middleware.pipeline import Identity
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel, tool_call_message
from hive_middleware.types import Action, AgentState, RouteDecision

BIG = "\n".join(f"tests/test_x.py::test_{i} PASSED" for i in range(500))


class RerunAfterEdit:
    def decide(self, state: AgentState) -> RouteDecision:
        if state.history and state.history[-1].action.startswith("sed -i"):
            return RouteDecision(Action("pytest -q"), "rerun_tests", 0.98, False, "re-run after an edit")
        return RouteDecision(None, None, 0.1, True, "not mechanical")


def build(stack: Any, model: ToolCallingFakeChatModel, calls: list[str]) -> Any:
    @tool
    def bash(command: str) -> str:
        """Run a shell command."""
        calls.append(command)
        return BIG if command.startswith("pytest") else "edited"

    tools = [bash]
    bound = model.bind_tools(tools)

    def call_model(state: Any) -> dict[str, Any]:
        return {"messages": [bound.invoke(model_input(state))]}

    graph = StateGraph(HiveGraphState)
    graph.add_node("memory", hive_memory_node(stack))
    graph.add_node("router", hive_router_node(stack, tools=tools))
    graph.add_node("compress", hive_compress_node(stack))
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "memory")
    graph.add_edge("memory", "router")
    graph.add_edge("compress", "model")
    graph.add_conditional_edges("model", tools_condition, {"tools": "tools", END: "memory_end"})
    graph.add_node("memory_end", hive_memory_node(stack))
    graph.add_edge("memory_end", END)
    graph.add_edge("tools", "memory")
    return graph.compile()


def test_graph_routes_a_rerun_and_the_model_sees_the_compressed_view(make_stack: Any) -> None:
    stack = make_stack(policy=RerunAfterEdit())
    model = ToolCallingFakeChatModel(responses=[
        tool_call_message("bash", {"command": "pytest -q"}, "c1"),
        tool_call_message("bash", {"command": "sed -i 's/a/b/' x.py"}, "c2"),
        AIMessage(content="fixed"),
    ])
    calls: list[str] = []
    out = build(stack, model, calls).invoke({"messages": [{"role": "user", "content": "make tests pass"}]})
    assert calls == ["pytest -q", "sed -i 's/a/b/' x.py", "pytest -q"]
    assert len(model.seen) == 3  # the re-run after the edit was routed, not asked
    assert out["messages"][-1].content == "fixed"
    kinds = [e["kind"] for e in out["hive_events"]]
    assert kinds.count("routed") == 1 and kinds.count("compressed") == 3
    # The last model call saw both test runs, the older one compressed.
    assert sum(len(m.text) for m in model.seen[-1]) < 1.5 * len(BIG)
    assert sum(1 for m in out["messages"] if m.type == "tool" and m.text == BIG) == 2
    # Memory written once per message, linked causally.
    assert out["hive_remembered"] == len(out["messages"])
    me = Identity("acme", "agent", out["hive_thread"])
    assert out["hive_thread"].startswith("run-")  # no thread_id: a fresh id for the run
    result = stack.recall(me.key("result", "c2"), namespace=me.namespace)
    assert result is not None
    chain = stack.why(result.key, namespace=me.namespace)
    assert [s.record.metadata["type"] for s in chain] == ["tool_call", "tool_result", "tool_call", "turn"]


def test_a_named_human_turn_is_remembered_with_its_author(make_stack: Any) -> None:
    from langchain_core.messages import HumanMessage

    stack = make_stack()
    node = hive_memory_node(stack, agent="planner")
    out = node({"messages": [HumanMessage("I moved the deploy to Friday.", name="Priya", id="m1"),
                             HumanMessage("ok", id="m2")]})
    me = Identity("acme", "planner", out["hive_thread"])
    first = stack.recall(me.key("turn", "m1"), namespace=me.namespace)
    second = stack.recall(me.key("turn", "m2"), namespace=me.namespace)
    assert first.metadata["author"] == "Priya"
    assert second.metadata["author"] == "planner user"  # no name: the role and the agent
    assert second.metadata["context"] == "I moved the deploy to Friday."  # what it answers
