"""A LangChain v1 agent with Hive as middleware (offline: a scripted chat model stands in for an LLM).

    python examples/integrations/langgraph_agent.py

Swap ``ToolCallingFakeChatModel`` for any chat model (``init_chat_model("openai:gpt-4o")``).
"""

from __future__ import annotations

import tempfile

from hive_middleware.integrations.langgraph import HiveMiddleware
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from hive_middleware import HiveStack
from hive_middleware.routing.policy import default_model_dir
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel, tool_call_message

LOG = "\n".join(f"tests/test_invoice.py::test_case_{i} PASSED" for i in range(300))


@tool
def bash(command: str) -> str:
    """Run a shell command in the repository."""
    return LOG if command.startswith("pytest") else f"$ {command}\n(ok)"


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        stack = HiveStack.from_config(data_dir=data_dir, routing={"model_dir": str(default_model_dir())})
        model = ToolCallingFakeChatModel(responses=[
            tool_call_message("bash", {"command": "pytest -q"}, "c1"),
            tool_call_message("bash", {"command": "pytest -q tests/test_invoice.py"}, "c2"),
            AIMessage(content="All invoice tests pass."),
        ])
        hive = HiveMiddleware(stack, on_event=lambda e: print(f"  hive: {e.kind} {dict(e.detail)}"[:110]))
        agent = create_agent(model, tools=[bash], middleware=[hive])
        out = agent.invoke({"messages": [{"role": "user", "content": "Make the invoice tests pass."}]})
        hive.flush()
        print("answer:", out["messages"][-1].content)
        print("decisions:", [e["kind"] for e in out["hive_events"]])
        print("model input chars, last call:", sum(len(m.text) for m in model.seen[-1]))
        stack.close()


if __name__ == "__main__":
    main()
