"""Hive as LangChain v1 agent middleware: ``create_agent(..., middleware=[HiveMiddleware(stack)])``.

What each hook does (sync and async twins behave the same):

* ``before_model``: writes the new user turn to memory and recalls memories
  relevant to the latest input; the recalled text is kept in the private state
  key ``hive_memory`` and reaches the model as one system message marked
  ``[hive memory]`` (the stored conversation is never rewritten).
* ``wrap_model_call``: asks the router first; a confident, mechanical step is
  answered with a synthesized ``AIMessage`` tool call and the model is not
  called. Otherwise the model gets the compressed view of the conversation plus
  the memory message, through ``request.override(messages=...)``.
* ``after_model``: writes each tool call to memory, ``caused_by`` its turn.
* ``wrap_tool_call``: answers read-only tools from the :class:`ToolOutputCache`
  when their inputs did not change, and writes each tool result to memory,
  ``caused_by`` its call.

Every decision is appended to the state key ``hive_events`` (visible in the
agent's output) and passed to ``on_event``. Hooks fail open: a Hive error is
logged and the call proceeds unmodified.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, Literal, NotRequired

from hive_middleware.integrations.session import (
    HiveEvent,
    HiveSession,
    _maybe_async,
    action_of_call,
    author_metadata,
)
from hive_middleware.integrations.tool_cache import ToolOutputCache, hive_expand_tool
from langchain.agents.middleware.types import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
    PrivateStateAttr,
)
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    convert_to_openai_messages,
)
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from hive_middleware.errors import HiveValidationError
from hive_middleware.types import Action, Message, RouteDecision

__all__ = ["HiveAgentState", "HiveMiddleware", "RouteCheck", "thread_of", "to_langchain", "to_openai"]

RouteCheck = Callable[[RouteDecision, list[Message]], Action | Literal[False] | None]
"""Sees every routed action before it is used: returns a replacement action, ``None``
to keep it, or ``False`` to veto it (the model is called instead)."""


class HiveAgentState(AgentState[Any]):
    """Agent state with Hive's visible decisions and its private memory context."""

    hive_events: NotRequired[Annotated[list[dict[str, Any]], operator.add]]
    hive_memory: NotRequired[Annotated[str | None, PrivateStateAttr]]


def to_openai(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages -> OpenAI dicts (what the Hive core speaks)."""
    return list(convert_to_openai_messages(list(messages)))  # type: ignore[arg-type]


def to_langchain(messages: Sequence[Message]) -> list[AnyMessage]:
    """OpenAI dicts -> LangChain messages."""
    return list(convert_to_messages([dict(m) for m in messages]))  # type: ignore[arg-type]


def thread_of(messages: Sequence[BaseMessage]) -> str:
    """The conversation's id: LangGraph's ``thread_id`` when configured, else a hash of its goal."""
    try:
        from langgraph.config import get_config

        thread = get_config().get("configurable", {}).get("thread_id")
        if thread:
            return str(thread)
    except RuntimeError:  # outside a runnable context
        pass
    first = next((m for m in messages if isinstance(m, HumanMessage)), None)
    text = first.text if first is not None else ""
    return "g" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


def _human_turns(messages: Sequence[BaseMessage]) -> list[int]:
    return [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]


def _tool_names(tools: Iterable[Any]) -> list[str]:
    names = []
    for t in tools:
        name = getattr(t, "name", None) or (t.get("name") if isinstance(t, dict) else None)
        if name is None and isinstance(t, dict):
            name = (t.get("function") or {}).get("name")
        if name:
            names.append(str(name))
    return names


class HiveMiddleware(AgentMiddleware[HiveAgentState, Any, Any]):
    """Compress, recall, route and remember around a LangChain v1 agent's model calls.

    Args:
        stack: A ``HiveStack`` (or an object with its methods).
        agent: Agent name used in memory keys.
        compress: Give the model the compressed view.
        recall_k: Memories injected per model call (0: none).
        route: Let the router answer mechanical steps.
        remember: Write turns, calls and results to memory.
        budget: Token budget for compression.
        model: Model name for token counting.
        shell_tool: Tool that runs a routed shell command.
        tool_cache: Cache for read-only tools (``None``: no caching).
        expand_tool: Register the ``hive_expand(handle)`` tool with the agent.
        route_check: See :data:`RouteCheck`.
        on_event: Called with every :class:`HiveEvent`.
        recall_every: Recall again after this many tool results within one user
            turn (a new user turn always recalls); between recalls the memory
            message of the last recall is reused.
        write_behind: Write memories from a background thread (see
            :meth:`flush`), so the agent never waits on storage.
    """

    state_schema = HiveAgentState

    def __init__(
        self,
        stack: Any,
        *,
        agent: str = "agent",
        compress: bool = True,
        recall_k: int = 3,
        route: bool = True,
        remember: bool = True,
        budget: int | None = None,
        model: str | None = None,
        shell_tool: str = "bash",
        tool_cache: ToolOutputCache | None = None,
        expand_tool: bool = True,
        route_check: RouteCheck | None = None,
        on_event: Callable[[HiveEvent], None] | None = None,
        recall_every: int = 5,
        write_behind: bool = True,
    ) -> None:
        super().__init__()
        self.session = HiveSession(
            stack, agent=agent, compress=compress, recall_k=recall_k, route=route, remember=remember,
            budget=budget, model=model, shell_tool=shell_tool, on_event=on_event, write_behind=write_behind,
        )
        self.recall_every = max(1, recall_every)
        if tool_cache is not None and tool_cache.read_only_tools is None:
            raise HiveValidationError(
                "the tool cache given to HiveMiddleware must name its read-only tools "
                "(ToolOutputCache(read_only_tools={...})): caching a tool that writes would replay stale results",
                field="tool_cache",
            )
        self.tool_cache = tool_cache
        self.route_check = route_check
        expand = getattr(stack, "expand", None)
        self.tools = [hive_expand_tool(expand)] if expand_tool else []

    # -- before_model: the turn, recall ------------------------------------

    def _turn_items(self, state: HiveAgentState) -> tuple[str, list[tuple[str, str, str | None, dict[str, Any]]]]:
        messages = state["messages"]
        thread = thread_of(messages)
        turns = _human_turns(messages)
        if not turns or turns[-1] != len(messages) - 1:
            return thread, []  # the latest message is not a new user turn
        key = self.session.turn_key(thread, len(turns) - 1)
        text = messages[-1].text
        return thread, [(key, text, None, {"type": "turn", "thread": thread} | author_metadata(messages[-1].name))]

    def _recall_update(self, prepared_events: list[HiveEvent], memory: str | None) -> dict[str, Any]:
        update: dict[str, Any] = {"hive_memory": memory}
        if prepared_events:
            update["hive_events"] = [e.as_dict() for e in prepared_events]
        return update

    def _recall(self, messages: list[Message], thread: str, events: list[HiveEvent]) -> str | None:
        session = self.session
        if session.recall_k <= 0:
            return None
        query = session._query(messages)
        if not query:
            return None
        try:
            hits = session.stack.search(query, k=session.recall_k * 3)
        except Exception as exc:
            session._failed(events, "recall", exc)
            return None
        memory, count = session._memory_message(hits, "\n".join(str(m.get("content")) for m in messages[-12:]), thread)
        if count:
            session.emit(events, "recalled", count=count)
        content = memory.get("content") if memory is not None else None
        return content if isinstance(content, str) else None

    async def _arecall(self, messages: list[Message], thread: str, events: list[HiveEvent]) -> str | None:
        session = self.session
        if session.recall_k <= 0:
            return None
        query = session._query(messages)
        if not query:
            return None
        try:
            hits = await _maybe_async(session.stack, "search", query, k=session.recall_k * 3)
        except Exception as exc:
            session._failed(events, "recall", exc)
            return None
        memory, count = session._memory_message(hits, "\n".join(str(m.get("content")) for m in messages[-12:]), thread)
        if count:
            session.emit(events, "recalled", count=count)
        content = memory.get("content") if memory is not None else None
        return content if isinstance(content, str) else None

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait for queued memory writes (write-behind mode); True when all are done."""
        return bool(self.session.flush(timeout))

    def _due(self, state: HiveAgentState, items: list[Any]) -> bool:
        if items or "hive_memory" not in state:
            return True  # a new user turn, or never recalled in this conversation
        messages = state["messages"]
        since_turn = 0
        for m in reversed(messages):
            if isinstance(m, HumanMessage):
                break
            since_turn += isinstance(m, ToolMessage)
        return since_turn > 0 and since_turn % self.recall_every == 0

    def before_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Remember a new user turn; recall memories on a new turn and every ``recall_every`` results."""
        events: list[HiveEvent] = []
        thread, items = self._turn_items(state)
        self.session.remember(items, events)
        if not self._due(state, items):
            return {"hive_events": [e.as_dict() for e in events]} if events else None
        memory = self._recall(to_openai(state["messages"]), thread, events)
        return self._recall_update(events, memory)

    async def abefore_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`before_model`."""
        events: list[HiveEvent] = []
        thread, items = self._turn_items(state)
        await self.session.aremember(items, events)
        if not self._due(state, items):
            return {"hive_events": [e.as_dict() for e in events]} if events else None
        memory = await self._arecall(to_openai(state["messages"]), thread, events)
        return self._recall_update(events, memory)

    # -- wrap_model_call: route, or call the model with the compressed view ----

    def _checked(self, decision: RouteDecision | None, messages: list[Message],
                 events: list[HiveEvent]) -> AIMessage | None:
        """The routed tool-call message, or ``None`` when nothing was routed or the check vetoed it."""
        if decision is None or decision.action is None:
            return None
        action = decision.action
        if self.route_check is not None:
            replacement = self.route_check(decision, messages)
            if replacement is False:
                self.session.emit(events, "route_vetoed", routed=action.command)
                return None
            if replacement is not None:
                self.session.emit(events, "route_replaced", routed=action.command, used=replacement.command)
                action = replacement
        call = self.session.tool_call_for(action)
        return AIMessage(
            content="",
            tool_calls=[call],
            response_metadata={"hive_routed": True, "template": decision.template,
                               "confidence": decision.confidence},
        )

    def _view(self, request: ModelRequest[Any], events: list[HiveEvent]) -> ModelRequest[Any]:
        openai = to_openai(request.messages)
        prepared = self.session.prepare(openai, thread=None) if self.session.compress_enabled else None
        view = prepared.messages if prepared is not None else openai
        if prepared is not None:
            events.extend(prepared.events)
        return self._override(request, view)

    async def _aview(self, request: ModelRequest[Any], events: list[HiveEvent]) -> ModelRequest[Any]:
        openai = to_openai(request.messages)
        prepared = await self.session.aprepare(openai, thread=None) if self.session.compress_enabled else None
        view = prepared.messages if prepared is not None else openai
        if prepared is not None:
            events.extend(prepared.events)
        return self._override(request, view)

    def _override(self, request: ModelRequest[Any], view: list[Message]) -> ModelRequest[Any]:
        try:
            messages: list[AnyMessage] = to_langchain(view)
        except Exception as exc:  # a view LangChain cannot read: keep the original
            self.session._failed([], "convert", exc)
            messages = list(request.messages)
        memory = request.state.get("hive_memory") if isinstance(request.state, dict) else None
        if isinstance(memory, str) and memory:
            messages = [SystemMessage(content=memory, id="hive-memory"), *messages]
        return request.override(messages=messages)

    def _result(self, response: Any, events: list[HiveEvent]) -> Any:
        if not events:
            return response
        update: Command[Any] = Command(update={"hive_events": [e.as_dict() for e in events]})
        if isinstance(response, AIMessage):
            response = ModelResponse(result=[response])
        if isinstance(response, ExtendedModelResponse):
            return response  # an inner middleware's command stands; events went to on_event
        return ExtendedModelResponse(model_response=response, command=update)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> Any:
        """Answer a mechanical step with the router, else call the model on the compressed view."""
        events: list[HiveEvent] = []
        openai = to_openai(request.messages)
        decision = self.session.route(openai, tools=_tool_names(request.tools), events=events)
        routed = self._checked(decision, openai, events)
        if routed is not None:
            return self._result(routed, events)
        # Recall already happened in before_model; compression happens here.
        saved = self.session.recall_k
        self.session.recall_k = 0
        try:
            view = self._view(request, events)
        finally:
            self.session.recall_k = saved
        return self._result(handler(view), events)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> Any:
        """Async :meth:`wrap_model_call`."""
        events: list[HiveEvent] = []
        openai = to_openai(request.messages)
        decision = await self.session.aroute(openai, tools=_tool_names(request.tools), events=events)
        routed = self._checked(decision, openai, events)
        if routed is not None:
            return self._result(routed, events)
        saved = self.session.recall_k
        self.session.recall_k = 0
        try:
            view = await self._aview(request, events)
        finally:
            self.session.recall_k = saved
        return self._result(await handler(view), events)

    # -- after_model: remember tool calls --------------------------------------

    def _call_items(self, state: HiveAgentState) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        messages = state["messages"]
        if not messages or not isinstance(messages[-1], AIMessage) or not messages[-1].tool_calls:
            return []
        thread = thread_of(messages)
        turns = _human_turns(messages)
        turn_key = self.session.turn_key(thread, len(turns) - 1) if turns else None
        routed = bool(messages[-1].response_metadata.get("hive_routed"))
        items = []
        for call in messages[-1].tool_calls:
            action = action_of_call(call["name"], call["args"])
            items.append((
                self.session.call_key(thread, str(call["id"])),
                f"{call['name']} call: {action}",
                turn_key,
                {"type": "tool_call", "thread": thread, "tool": call["name"], "routed": routed},
            ))
        return items

    def after_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Remember the model's tool calls, each ``caused_by`` the user turn."""
        events: list[HiveEvent] = []
        self.session.remember(self._call_items(state), events)
        return {"hive_events": [e.as_dict() for e in events]} if events else None

    async def aafter_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`after_model`."""
        events: list[HiveEvent] = []
        await self.session.aremember(self._call_items(state), events)
        return {"hive_events": [e.as_dict() for e in events]} if events else None

    # -- wrap_tool_call: cache, remember results -------------------------------

    def _result_items(
        self, request: ToolCallRequest, result: Any
    ) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        if not isinstance(result, ToolMessage):
            return []
        messages = request.state.get("messages", []) if isinstance(request.state, dict) else []
        thread = thread_of(messages)
        call_id = str(request.tool_call["id"])
        return [(
            self.session.result_key(thread, call_id),
            f"{request.tool_call['name']} result: {result.text}",
            self.session.call_key(thread, call_id),
            {"type": "tool_result", "thread": thread, "tool": request.tool_call["name"]},
        )]

    def _cached(self, request: ToolCallRequest) -> ToolMessage | None:
        if self.tool_cache is None:
            return None
        try:
            hit = self.tool_cache.lookup(request.tool_call["name"], request.tool_call["args"])
        except Exception as exc:
            self.session._failed([], "tool_cache", exc)
            return None
        if hit is None:
            return None
        self.session.emit([], "cache_hit", tool=request.tool_call["name"])
        return ToolMessage(content=hit, tool_call_id=request.tool_call["id"], name=request.tool_call["name"])

    def _store(self, request: ToolCallRequest, result: Any) -> None:
        if self.tool_cache is None or not isinstance(result, ToolMessage) or result.status == "error":
            return
        try:
            self.tool_cache.store(request.tool_call["name"], request.tool_call["args"], result.content)
        except Exception as exc:
            self.session._failed([], "tool_cache", exc)

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Serve read-only tools from cache; remember each result ``caused_by`` its call."""
        result = self._cached(request) or handler(request)
        self._store(request, result)
        self.session.remember(self._result_items(request, result), [])
        return result

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async :meth:`wrap_tool_call`."""
        result = self._cached(request) or await handler(request)
        self._store(request, result)
        await self.session.aremember(self._result_items(request, result), [])
        return result
