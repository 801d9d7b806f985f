"""HiveStore as the store of a ``create_agent`` agent: tools read and write it through ``runtime.store``."""

from __future__ import annotations

from hive_middleware.integrations.langgraph_store import HiveStore
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from hive_middleware.memory.store import MemoryStore
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel, tool_call_message
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex


@tool
def save_preference(name: str, value: str, runtime: ToolRuntime) -> str:
    """Save a user preference."""
    assert runtime.store is not None
    runtime.store.put(("prefs", "u1"), name, {"value": value})
    return f"saved {name}"


@tool
def find_preference(query: str, runtime: ToolRuntime) -> str:
    """Find a user preference by meaning."""
    assert runtime.store is not None
    hits = runtime.store.search(("prefs",), query=query, limit=1)
    return hits[0].value["value"] if hits else "none"


def test_agent_tools_use_hive_store_through_runtime() -> None:
    memory = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(), namespace=("acme",))
    store = HiveStore(memory)
    model = ToolCallingFakeChatModel(responses=[
        tool_call_message("save_preference", {"name": "editor", "value": "vim keybindings"}, "c1"),
        tool_call_message("find_preference", {"query": "editor"}, "c2"),
        AIMessage(content="done"),
    ])
    agent = create_agent(model, tools=[save_preference, find_preference], store=store)
    out = agent.invoke({"messages": [{"role": "user", "content": "remember my editor"}]})
    tool_outputs = [m.content for m in out["messages"] if m.type == "tool"]
    assert tool_outputs == ["saved editor", "vim keybindings"]
    item = store.get(("prefs", "u1"), "editor")
    assert item is not None and item.value == {"value": "vim keybindings"}
    # The item is a Hive memory: it has a history like any other.
    assert len(memory.history("editor", namespace=("acme", "store", "prefs", "u1"))) == 1
    memory.close()
