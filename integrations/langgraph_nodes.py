"""Hive as nodes of a hand-built LangGraph ``StateGraph`` (with LangGraph's own ``ToolNode``).

A typical graph::

    graph = StateGraph(HiveGraphState)
    graph.add_node("memory", hive_memory_node(stack))
    graph.add_node("router", hive_router_node(stack, tools=tools))   # -> "tools" or "compress"
    graph.add_node("compress", hive_compress_node(stack))
    graph.add_node("model", call_model)          # reads model_input(state)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "memory"); graph.add_edge("memory", "router")
    graph.add_edge("compress", "model")
    graph.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "memory")

* :func:`hive_router_node` routes: a confident mechanical step becomes an
  ``AIMessage`` tool call and ``Command(goto=<tools node>)``; otherwise it passes
  on to the next node (compression, then the model).
* :func:`hive_compress_node` writes the compressed view (plus recalled memory
  as a ``[hive memory]`` system message) to ``hive_view``; the model node reads
  it with :func:`model_input`. The conversation in ``messages`` is never rewritten.
* :func:`hive_memory_node` writes what is new since its last run: user turns,
  tool calls ``caused_by`` their turn, tool results ``caused_by`` their call,
  under ``(tenant, agent, thread)``. The thread is LangGraph's ``thread_id``, else
  a fresh id the memory node keeps in ``hive_thread`` for the rest of the run.
  The node returns once its memories are committed.

Every node appends its decisions to ``hive_events``; all fail open. The nodes of
one graph share one :class:`~hive_middleware.pipeline.Pipeline` when given one
(``stack.pipeline(...)``) instead of a stack.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NotRequired

from hive_middleware.integrations.langgraph import MessageConverter, configured_thread, to_langchain
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import MessagesState
from langgraph.types import Command

from hive_middleware.pipeline import CallOptions, HiveEvent, Identity, Pipeline, new_thread_id
from hive_middleware.pipeline.identity import RecallScope

__all__ = [
    "HiveGraphState",
    "hive_compress_node",
    "hive_memory_node",
    "hive_router_node",
    "model_input",
]


class HiveGraphState(MessagesState):
    """``MessagesState`` plus what the Hive nodes write."""

    hive_view: NotRequired[list[AnyMessage]]
    hive_view_len: NotRequired[int]
    hive_events: NotRequired[Annotated[list[dict[str, Any]], operator.add]]
    hive_remembered: NotRequired[int]
    hive_thread: NotRequired[str]


def model_input(state: Any) -> list[AnyMessage]:
    """What the model node should send: the compressed view when it is current, else the messages."""
    view = state.get("hive_view")
    messages = state["messages"]
    # A view is current while no message arrived after it was made.
    if view and state.get("hive_view_len", len(messages)) == len(messages):
        return list(view)
    return list(messages)


class _Node:
    """What every Hive node needs: its pipeline, identity rules and a message converter."""

    def __init__(self, stack: Any, tenant: str | None, agent: str, options: CallOptions | None,
                 shell_tool: str = "bash") -> None:
        self.pipeline = stack if isinstance(stack, Pipeline) else Pipeline(stack, options=options, shell_tool=shell_tool)
        config = getattr(self.pipeline.stack, "config", None)
        self.tenant = tenant or str(getattr(config, "tenant", "default"))
        self.agent = agent
        self.convert = MessageConverter()

    def thread(self, state: Any) -> str:
        """The run's thread: kept in state, else LangGraph's ``thread_id``, else fresh."""
        return str(state.get("hive_thread") or configured_thread() or new_thread_id())

    def identity(self, state: Any) -> Identity:
        return Identity(self.tenant, self.agent, self.thread(state))


def _tool_names(tools: Sequence[Any] | None) -> list[str] | None:
    if tools is None:
        return None
    return [str(getattr(t, "name", t)) for t in tools]


def hive_router_node(
    stack: Any,
    *,
    tools: Sequence[Any] | None = None,
    tools_node: str = "tools",
    next_node: str = "compress",
    shell_tool: str = "bash",
    tenant: str | None = None,
    agent: str = "agent",
) -> Callable[[Any], Command[Any]]:
    """A node that answers mechanical steps without the model.

    Args:
        stack: A ``HiveStack`` (or a :class:`~hive_middleware.pipeline.Pipeline`).
        tools: The tools the graph can run (a routed call to another tool escalates).
        tools_node: Node that executes tool calls (LangGraph's ``ToolNode``).
        next_node: Node to go to when the step escalates (compression or the model).
        shell_tool: Tool that runs a routed shell command.
        tenant: Whose memory it is (default: the stack's ``config.tenant``).
        agent: Agent name.

    Returns:
        ``node(state) -> Command(goto=tools_node | next_node)``.
    """
    hive = _Node(stack, tenant, agent, CallOptions(recall_k=0), shell_tool)
    names = _tool_names(tools)

    def node(state: Any) -> Command[Any]:
        events: list[HiveEvent] = []
        messages = state["messages"]
        if messages and isinstance(messages[-1], AIMessage) and messages[-1].tool_calls:
            return Command(goto=tools_node)  # a pending call: run it first
        decision = hive.pipeline.route(hive.convert(messages), hive.identity(state), tools=names, events=events)
        update: dict[str, Any] = {"hive_events": [e.as_dict() for e in events]}
        if decision is None or decision.action is None:
            return Command(goto=next_node, update=update)
        call = hive.pipeline.tool_call_for(decision.action)
        update["messages"] = [AIMessage(content="", tool_calls=[call], response_metadata={
            "hive_routed": True, "template": decision.template, "confidence": decision.confidence})]
        return Command(goto=tools_node, update=update)

    node.__name__ = "hive_router"
    return node


def hive_compress_node(
    stack: Any,
    *,
    recall_k: int = 3,
    recall_scope: RecallScope = "tenant",
    budget: int | None = None,
    model: str | None = None,
    tenant: str | None = None,
    agent: str = "agent",
) -> Callable[[Any], dict[str, Any]]:
    """A node that writes the compressed view (with recalled memory) to ``hive_view``.

    Args:
        stack: A ``HiveStack`` (or a :class:`~hive_middleware.pipeline.Pipeline`).
        recall_k: Memories injected (0: none).
        recall_scope: Where recall reads: ``thread``, ``agent`` or ``tenant`` (default).
        budget: Token budget for compression.
        model: Model name for token counting.
        tenant: Whose memory it is (default: the stack's ``config.tenant``).
        agent: Agent name.
    """
    options = CallOptions(recall_k=recall_k, recall_scope=recall_scope, budget=budget, model=model)
    hive = _Node(stack, tenant, agent, options)

    def node(state: Any) -> dict[str, Any]:
        messages = state["messages"]
        prepared = hive.pipeline.prepare(hive.convert(messages), hive.identity(state), options=options)
        try:
            view = to_langchain(prepared.messages)
        except Exception as exc:  # a view LangChain cannot read: the model gets the original
            hive.pipeline.failed(prepared.events, "convert", exc)
            view = list(messages)
        return {"hive_view": view, "hive_view_len": len(messages),
                "hive_events": [e.as_dict() for e in prepared.events]}

    node.__name__ = "hive_compress"
    return node


def hive_memory_node(
    stack: Any, *, tenant: str | None = None, agent: str = "agent"
) -> Callable[[Any], dict[str, Any]]:
    """A node that writes the messages new since its last run to memory, causally linked.

    Args:
        stack: A ``HiveStack`` (or a :class:`~hive_middleware.pipeline.Pipeline`).
        tenant: Whose memory it is (default: the stack's ``config.tenant``).
        agent: Agent name.
    """
    hive = _Node(stack, tenant, agent, None)

    def node(state: Any) -> dict[str, Any]:
        messages = state["messages"]
        thread = hive.thread(state)
        start = int(state.get("hive_remembered", 0) or 0) if state.get("hive_thread") == thread else 0
        events: list[HiveEvent] = []
        identity = Identity(hive.tenant, hive.agent, thread)
        items = hive.pipeline.items(hive.convert(messages), identity, start=start,
                                    local_ids=[m.id for m in messages])
        hive.pipeline.remember(items, events)
        return {"hive_remembered": len(messages), "hive_thread": thread,
                "hive_events": [e.as_dict() for e in events]}

    node.__name__ = "hive_memory"
    return node
