"""A hand-built LangGraph StateGraph with Hive's router, compression and memory nodes and ToolNode.

    python examples/integrations/stategraph_nodes.py
"""

from __future__ import annotations

import tempfile
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

from hive_middleware import HiveStack
from hive_middleware.routing.policy import default_model_dir
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel, tool_call_message


@tool
def bash(command: str) -> str:
    """Run a shell command in the repository."""
    return "\n".join(f"src/app.py:{i}: def handler_{i}():" for i in range(200)) if command.startswith("grep") else "ok"


def build(stack: HiveStack, model: ToolCallingFakeChatModel) -> Any:
    tools = [bash]
    bound = model.bind_tools(tools)

    def call_model(state: Any) -> dict[str, Any]:
        return {"messages": [bound.invoke(model_input(state))]}

    graph = StateGraph(HiveGraphState)
    graph.add_node("memory", hive_memory_node(stack))
    graph.add_node("router", hive_router_node(stack, tools=tools, tools_node="tools", next_node="compress"))
    graph.add_node("compress", hive_compress_node(stack))
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "memory")
    graph.add_edge("memory", "router")
    graph.add_edge("compress", "model")
    graph.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "memory")
    return graph.compile()


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        stack = HiveStack.from_config(data_dir=data_dir, routing={"model_dir": str(default_model_dir())})
        model = ToolCallingFakeChatModel(responses=[
            tool_call_message("bash", {"command": "grep -rn handler src"}, "c1"),
            tool_call_message("bash", {"command": "grep -rn handler_7 src"}, "c2"),
            AIMessage(content="handler_7 is in src/app.py line 7."),
        ])
        out = build(stack, model).invoke({"messages": [{"role": "user", "content": "Where is handler_7?"}]})
        print("answer:", out["messages"][-1].content)
        print("decisions:", [e["kind"] for e in out["hive_events"]])
        print("remembered messages:", out["hive_remembered"])
        stack.close()


if __name__ == "__main__":
    main()
