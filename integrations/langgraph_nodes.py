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
  tool calls ``caused_by`` their turn, tool results ``caused_by`` their call.

Every node appends its decisions to ``hive_events``; all fail open.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NotRequired

from hive_middleware.integrations.langgraph import thread_of, to_langchain, to_openai
from hive_middleware.integrations.session import HiveEvent, HiveSession, action_of_call, author_metadata
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.graph import MessagesState
from langgraph.types import Command

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


def model_input(state: Any) -> list[AnyMessage]:
    """What the model node should send: the compressed view when it is current, else the messages."""
    view = state.get("hive_view")
    messages = state["messages"]
    # A view is current while no message arrived after it was made.
    if view and state.get("hive_view_len", len(messages)) == len(messages):
        return list(view)
    return list(messages)


def _session(stack: Any, **options: Any) -> HiveSession:
    return stack if isinstance(stack, HiveSession) else HiveSession(stack, **options)


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
) -> Callable[[Any], Command[Any]]:
    """A node that answers mechanical steps without the model.

    Args:
        stack: A ``HiveStack`` (or a :class:`HiveSession`).
        tools: The tools the graph can run (a routed call to another tool escalates).
        tools_node: Node that executes tool calls (LangGraph's ``ToolNode``).
        next_node: Node to go to when the step escalates (compression or the model).
        shell_tool: Tool that runs a routed shell command.

    Returns:
        ``node(state) -> Command(goto=tools_node | next_node)``.
    """
    session = _session(stack, shell_tool=shell_tool, recall_k=0)
    names = _tool_names(tools)

    def node(state: Any) -> Command[Any]:
        events: list[HiveEvent] = []
        messages = state["messages"]
        if messages and isinstance(messages[-1], AIMessage) and messages[-1].tool_calls:
            return Command(goto=tools_node)  # a pending call: run it first
        decision = session.route(to_openai(messages), tools=names, events=events)
        update: dict[str, Any] = {"hive_events": [e.as_dict() for e in events]}
        if decision is None or decision.action is None:
            return Command(goto=next_node, update=update)
        call = session.tool_call_for(decision.action)
        update["messages"] = [AIMessage(content="", tool_calls=[call], response_metadata={
            "hive_routed": True, "template": decision.template, "confidence": decision.confidence})]
        return Command(goto=tools_node, update=update)

    node.__name__ = "hive_router"
    return node


def hive_compress_node(stack: Any, *, recall_k: int = 3, budget: int | None = None,
                       model: str | None = None) -> Callable[[Any], dict[str, Any]]:
    """A node that writes the compressed view (with recalled memory) to ``hive_view``.

    Args:
        stack: A ``HiveStack`` (or a :class:`HiveSession`).
        recall_k: Memories injected (0: none).
        budget: Token budget for compression.
        model: Model name for token counting.
    """
    session = _session(stack, recall_k=recall_k, budget=budget, model=model)

    def node(state: Any) -> dict[str, Any]:
        messages = state["messages"]
        prepared = session.prepare(to_openai(messages), thread=thread_of(messages))
        try:
            view = to_langchain(prepared.messages)
        except Exception as exc:  # a view LangChain cannot read: the model gets the original
            session._failed(prepared.events, "convert", exc)
            view = list(messages)
        return {"hive_view": view, "hive_view_len": len(messages),
                "hive_events": [e.as_dict() for e in prepared.events]}

    node.__name__ = "hive_compress"
    return node


def _memory_items(session: HiveSession, messages: Sequence[BaseMessage], start: int) -> list[Any]:
    thread = thread_of(messages)
    turn = sum(1 for m in messages[:start] if isinstance(m, HumanMessage)) - 1
    items: list[Any] = []
    for msg in messages[start:]:
        turn_key = session.turn_key(thread, turn) if turn >= 0 else None
        if isinstance(msg, HumanMessage):
            turn += 1
            items.append((session.turn_key(thread, turn), msg.text, None,
                          {"type": "turn", "thread": thread} | author_metadata(msg.name)))
        elif isinstance(msg, AIMessage):
            routed = bool(msg.response_metadata.get("hive_routed"))
            for call in msg.tool_calls:
                items.append((session.call_key(thread, str(call["id"])),
                              f"{call['name']} call: {action_of_call(call['name'], call['args'])}", turn_key,
                              {"type": "tool_call", "thread": thread, "tool": call["name"], "routed": routed}))
        elif isinstance(msg, ToolMessage):
            items.append((session.result_key(thread, msg.tool_call_id), f"{msg.name or 'tool'} result: {msg.text}",
                          session.call_key(thread, msg.tool_call_id),
                          {"type": "tool_result", "thread": thread, "tool": msg.name or ""}))
    return items


def hive_memory_node(stack: Any) -> Callable[[Any], dict[str, Any]]:
    """A node that writes the messages new since its last run to memory, causally linked.

    Args:
        stack: A ``HiveStack`` (or a :class:`HiveSession`).
    """
    session = _session(stack)

    def node(state: Any) -> dict[str, Any]:
        messages = state["messages"]
        start = int(state.get("hive_remembered", 0) or 0)
        events: list[HiveEvent] = []
        session.remember(_memory_items(session, messages, start), events)
        return {"hive_remembered": len(messages), "hive_events": [e.as_dict() for e in events]}

    node.__name__ = "hive_memory"
    return node
