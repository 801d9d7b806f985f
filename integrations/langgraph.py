"""Hive as LangChain v1 agent middleware: ``create_agent(..., middleware=[HiveMiddleware(stack)])``.

What each hook does (each async twin drives the same job as its sync hook):

* ``before_agent``: fixes the run's identity. Memories are written under
  ``(tenant, agent, thread)``; the thread is LangGraph's ``thread_id`` when the
  run has one, else a fresh id for this invocation (kept in the private state
  key ``hive_thread``).
* ``before_model`` / ``after_model`` / ``after_agent``: remember what is new in
  the conversation since the last write (user turns, tool results, tool calls,
  answers; see :func:`hive_middleware.pipeline.conversation_items`), each
  causally linked. A hook returns once its memories are committed.
* ``wrap_model_call``: asks the router first; a confident, mechanical step is
  answered with a synthesized ``AIMessage`` tool call and the model is not
  called. Otherwise the model gets the compressed view of the conversation plus
  one ``[hive memory]`` system message of recalled memories, through
  ``request.override(messages=...)`` (the stored conversation is never
  rewritten). Recall runs on a new user turn and every ``recall_every`` tool
  results; in between the last recall's message is reused.
* ``wrap_tool_call``: answers read-only tools from the :class:`ToolOutputCache`
  when their inputs did not change.
* With ``speculate``: while the model thinks, the calls of read-only tools it
  is likely to make next (predicted from the conversation alone) run in the
  background and land in the tool cache; a matching tool call is served from
  there (an event ``speculation_hit``), or waits for the matching run still in
  flight. A tool is read-only when marked (:func:`hive_middleware.read_only`,
  ``metadata["read_only"] = True``) or named in ``read_only_tools``; no other
  tool ever runs speculatively, and calling one drops the round's unclaimed
  results. Counters: ``middleware.speculator.stats``.

LangChain messages are converted to OpenAI dicts once each (a bounded cache keeps
the conversions of the messages a run keeps re-sending). Every decision is
appended to the state key ``hive_events`` and passed to ``on_event``. Hooks fail
open: a Hive error is logged, counted in ``stack.stats`` and the call proceeds.
"""

from __future__ import annotations

import functools
import operator
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, Literal, NotRequired

from hive_middleware.integrations.tool_cache import HIVE_EXPAND_TOOL_NAME, ToolOutputCache, hive_expand_tool
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
from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from hive_middleware.errors import HiveRuntimeError, HiveValidationError
from hive_middleware.pipeline import CallOptions, HiveEvent, Identity, Pipeline, new_thread_id
from hive_middleware.pipeline.identity import RecallScope
from hive_middleware.pipeline.jobs import Io, Job, adrive, drive
from hive_middleware.pipeline.messages import state_from_messages
from hive_middleware.pipeline.speculation import (
    SpeculationOptions,
    Speculator,
    is_read_only,
    plan_calls,
    read_only_names,
)
from hive_middleware.types import Action, Message, RouteDecision

__all__ = [
    "HiveAgentState",
    "HiveMiddleware",
    "MessageConverter",
    "RouteCheck",
    "configured_thread",
    "to_langchain",
    "to_openai",
]

RouteCheck = Callable[[RouteDecision, list[Message]], Action | Literal[False] | None]
"""Sees every routed action before it is used: returns a replacement action, ``None``
to keep it, or ``False`` to veto it (the model is called instead)."""


class HiveAgentState(AgentState[Any]):
    """Agent state with Hive's visible decisions and its private bookkeeping."""

    hive_events: NotRequired[Annotated[list[dict[str, Any]], operator.add]]
    hive_thread: NotRequired[Annotated[str, PrivateStateAttr]]
    hive_remembered: NotRequired[Annotated[int, PrivateStateAttr]]
    hive_memory: NotRequired[Annotated[dict[str, Any] | None, PrivateStateAttr]]


def to_openai(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages -> OpenAI dicts (what the Hive core speaks)."""
    return list(convert_to_openai_messages(list(messages)))  # type: ignore[arg-type]


def to_langchain(messages: Sequence[Message]) -> list[AnyMessage]:
    """OpenAI dicts -> LangChain messages."""
    return list(convert_to_messages([dict(m) for m in messages]))  # type: ignore[arg-type]


class MessageConverter:
    """Converts LangChain messages to OpenAI dicts once each.

    An agent re-sends its whole conversation on every model call; the
    conversion of each message object is kept (the object itself is held, so
    its identity cannot be reused while cached), least recently used first out.

    Args:
        max_messages: Conversions kept.
    """

    def __init__(self, max_messages: int = 8_192) -> None:
        self._max = max_messages
        self._cache: OrderedDict[int, tuple[BaseMessage, Message]] = OrderedDict()
        self._lock = threading.Lock()
        self.converted = 0

    def __call__(self, messages: Sequence[BaseMessage]) -> list[Message]:
        out: list[Message] = []
        with self._lock:
            for message in messages:
                hit = self._cache.get(id(message))
                if hit is not None and hit[0] is message:
                    self._cache.move_to_end(id(message))
                    out.append(hit[1])
                    continue
                converted: Message = convert_to_openai_messages(message)  # type: ignore[assignment]
                self.converted += 1
                self._cache[id(message)] = (message, converted)
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
                out.append(converted)
        return out


def configured_thread() -> str | None:
    """LangGraph's ``thread_id`` of the running graph, if it has one."""
    try:
        from langgraph.config import get_config

        thread = get_config().get("configurable", {}).get("thread_id")
    except RuntimeError:  # outside a runnable context
        return None
    return str(thread) if thread else None


def _tool_names(tools: Iterable[Any]) -> list[str]:
    names = []
    for t in tools:
        name = getattr(t, "name", None) or (t.get("name") if isinstance(t, dict) else None)
        if name is None and isinstance(t, dict):
            name = (t.get("function") or {}).get("name")
        if name:
            names.append(str(name))
    return names


def _since_turn(messages: Sequence[BaseMessage]) -> tuple[int, int]:
    """The index of the latest user turn (-1: none) and the tool results after it."""
    results = 0
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i, results
        results += isinstance(messages[i], ToolMessage)
    return -1, results


class HiveMiddleware(AgentMiddleware[HiveAgentState, Any, Any]):
    """Compress, recall, route and remember around a LangChain v1 agent's model calls.

    Args:
        stack: A ``HiveStack``.
        tenant: Whose memory it is (default: the stack's ``config.tenant``).
        agent: Agent name (second element of memory namespaces).
        compress: Give the model the compressed view.
        recall_k: Memories injected per model call (0: none).
        recall_scope: Where recall reads: ``thread``, ``agent`` or ``tenant`` (default).
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
            turn (a new user turn always recalls).
        read_only_tools: Names of tools without side effects (besides tools
            marked with :func:`hive_middleware.read_only`): cached and, with
            ``speculate``, pre-executed. Without ``tool_cache`` a cache is made for them.
        speculate: Pre-execute up to this many predicted read-only calls while
            the model thinks (an int k, or :class:`SpeculationOptions`); ``None``: off.
    """

    state_schema = HiveAgentState

    def __init__(
        self,
        stack: Any,
        *,
        tenant: str | None = None,
        agent: str = "agent",
        compress: bool = True,
        recall_k: int = 3,
        recall_scope: RecallScope = "tenant",
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
        read_only_tools: Iterable[str] | None = None,
        speculate: int | SpeculationOptions | None = None,
    ) -> None:
        super().__init__()
        options = CallOptions(compress=compress, recall_k=recall_k, recall_scope=recall_scope, route=route,
                              remember=remember, budget=budget, model=model)
        self.pipeline = Pipeline(stack, options=options, shell_tool=shell_tool, on_event=on_event)
        self.tenant = tenant or str(getattr(getattr(stack, "config", None), "tenant", "default"))
        self.agent = agent
        self.recall_every = max(1, recall_every)
        if tool_cache is not None and tool_cache.read_only_tools is None:
            raise HiveValidationError(
                "the tool cache given to HiveMiddleware must name its read-only tools "
                "(ToolOutputCache(read_only_tools={...})): caching a tool that writes would replay stale results",
                field="tool_cache",
            )
        self.tool_cache = tool_cache
        self.speculator = self._speculator(read_only_tools, speculate)
        self.route_check = route_check
        self.convert = MessageConverter()
        expand = getattr(stack, "expand", None)
        self.tools = [hive_expand_tool(expand)] if expand_tool else []

    def _speculator(self, names: Iterable[str] | None, speculate: int | SpeculationOptions | None) -> Speculator | None:
        if isinstance(names, str):
            raise HiveValidationError(
                f"read_only_tools must be a list of tool names, not one string; write read_only_tools=[{names!r}]",
                field="read_only_tools",
            )
        read_only = frozenset(names or ())
        if read_only and self.tool_cache is None:
            self.tool_cache = ToolOutputCache(read_only_tools=read_only)
        elif read_only and self.tool_cache is not None:
            self.tool_cache.allow(read_only)
        if speculate is None:
            return None
        if isinstance(speculate, bool) or not isinstance(speculate, int | SpeculationOptions):
            raise HiveValidationError(
                f"speculate must be an int k or SpeculationOptions, got {type(speculate).__name__}", field="speculate"
            )
        options = SpeculationOptions(k=speculate) if isinstance(speculate, int) else speculate
        if options.k == 0:
            return None
        options = SpeculationOptions(k=options.k, budget_s=options.budget_s, max_workers=options.max_workers,
                                     read_only_tools=options.read_only_tools | read_only)
        if self.tool_cache is None:
            self.tool_cache = ToolOutputCache(read_only_tools=options.read_only_tools)
        return Speculator(self.tool_cache, options)

    def _identity(self, state: Any) -> Identity:
        thread = state.get("hive_thread") if isinstance(state, dict) else None
        return Identity(self.tenant, self.agent, str(thread or configured_thread() or new_thread_id()))

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait for memory writes in flight (hooks already wait for their own); True when done."""
        return bool(self.pipeline.writer.flush(timeout))

    # -- identity and memory writes ----------------------------------------------------

    def before_agent(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Fix the run's thread: LangGraph's ``thread_id``, else a fresh id for this invocation."""
        thread = configured_thread()
        if thread is not None and state.get("hive_thread") == thread:
            return None
        # A new thread starts unwritten; a checkpointed thread keeps what it wrote.
        return {"hive_thread": thread or new_thread_id(), "hive_remembered": 0}

    async def abefore_agent(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`before_agent`."""
        return self.before_agent(state, runtime)

    def _remember_new(self, state: HiveAgentState) -> Job[dict[str, Any] | None]:
        messages = state["messages"]
        start = int(state.get("hive_remembered", 0) or 0)
        if start >= len(messages):
            return None
        events: list[HiveEvent] = []
        converted = self.convert(messages)
        items = self.pipeline.items(converted, self._identity(state), start=start,
                                    local_ids=[m.id for m in messages])
        yield from self.pipeline.remember_job(items, events, self.pipeline.options)
        update: dict[str, Any] = {"hive_remembered": len(messages)}
        if events:
            update["hive_events"] = [e.as_dict() for e in events]
        return update

    def before_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Remember what is new since the last write (a user turn, tool results)."""
        return drive(self._remember_new(state))

    async def abefore_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`before_model`."""
        return await adrive(self._remember_new(state))

    def after_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Remember the model's tool calls or answer, ``caused_by`` what they answer."""
        return drive(self._remember_new(state))

    async def aafter_model(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`after_model`."""
        return await adrive(self._remember_new(state))

    def after_agent(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Remember what the run ended with (results of tools that returned directly)."""
        return drive(self._remember_new(state))

    async def aafter_agent(self, state: HiveAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        return await adrive(self._remember_new(state))

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
                self.pipeline.emit(events, "route_vetoed", routed=action.command)
                return None
            if replacement is not None:
                self.pipeline.emit(events, "route_replaced", routed=action.command, used=replacement.command)
                action = replacement
        call = self.pipeline.tool_call_for(action)
        return AIMessage(
            content="",
            tool_calls=[call],
            response_metadata={"hive_routed": True, "template": decision.template,
                               "confidence": decision.confidence},
        )

    def _recall_plan(self, request: ModelRequest[Any]) -> tuple[bool, dict[str, Any] | None]:
        """Whether this call recalls, and the last recall kept in state."""
        state = request.state if isinstance(request.state, dict) else {}
        kept = state.get("hive_memory")
        turn, results = _since_turn(request.messages)
        if not isinstance(kept, dict) or kept.get("turn") != turn:
            return True, None
        due = results - int(kept.get("results", 0)) >= self.recall_every
        return due, kept

    def _model_call(
        self, request: ModelRequest[Any], call: Callable[[ModelRequest[Any]], Any],
    ) -> Job[Any]:
        events: list[HiveEvent] = []
        pipeline = self.pipeline
        identity = self._identity(request.state)
        openai = self.convert(request.messages)
        decision = yield from pipeline.route_job(openai, identity, _tool_names(request.tools), events,
                                                 pipeline.options)
        routed = self._checked(decision, openai, events)
        if routed is not None:
            return self._result(routed, events, None)
        recall, kept = self._recall_plan(request)
        options = pipeline.options if recall else pipeline.options_for(recall_k=0)
        prepared = yield from pipeline.prepare_job(openai, identity, events, options)
        memory = prepared.memory
        if not recall and kept is not None and kept.get("content"):
            memory = Message(role="system", content=str(kept["content"]))
        view = request.override(messages=self._view(prepared.messages, memory, request, events))
        self._speculate(openai, request, identity, events)
        try:
            response = yield Io(lambda: call(view), lambda: call(view))
        finally:
            if self.speculator is not None:
                self.speculator.answered(conversation=identity.thread)
        new_kept = None
        if recall and pipeline.options.recall_k > 0:
            turn, results = _since_turn(request.messages)
            content = memory.get("content") if memory is not None else None
            new_kept = {"turn": turn, "results": results, "content": content}
        return self._result(response, events, new_kept)

    def _view(self, view: list[Message], memory: Message | None, request: ModelRequest[Any],
              events: list[HiveEvent]) -> list[AnyMessage]:
        body = [m for m in view if m is not memory and m.get("content") != (memory or {}).get("content")]
        try:
            messages: list[AnyMessage] = to_langchain(body)
        except Exception as exc:  # a view LangChain cannot read: keep the original
            self.pipeline.failed(events, "convert", exc)
            messages = list(request.messages)
        if memory is not None and isinstance(memory.get("content"), str):
            messages = [SystemMessage(content=str(memory["content"]), id="hive-memory"), *messages]
        return messages

    def _result(self, response: Any, events: list[HiveEvent], kept: dict[str, Any] | None) -> Any:
        update: dict[str, Any] = {}
        if events:
            update["hive_events"] = [e.as_dict() for e in events]
        if kept is not None:
            update["hive_memory"] = kept
        if not update:
            return response
        if isinstance(response, AIMessage):
            response = ModelResponse(result=[response])
        if isinstance(response, ExtendedModelResponse):
            return response  # an inner middleware's command stands; events went to on_event
        return ExtendedModelResponse(model_response=response, command=Command(update=update))

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> Any:
        """Answer a mechanical step with the router, else call the model on the compressed view."""
        return drive(self._model_call(request, handler))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> Any:
        """Async :meth:`wrap_model_call`."""
        return await adrive(self._model_call(request, handler))

    # -- speculation: pre-execute predicted read-only calls while the model thinks ----

    def _speculate(self, openai: list[Message], request: ModelRequest[Any], identity: Identity,
                   events: list[HiveEvent]) -> None:
        speculator = self.speculator
        if speculator is None:
            return
        try:
            tools = {t.name: t for t in request.tools if isinstance(t, BaseTool)}
            marked = read_only_names(tools.values())
            if marked and self.tool_cache is not None:
                self.tool_cache.allow(marked)
            allowed = (speculator.options.read_only_tools | marked) & tools.keys()
            state = state_from_messages(openai, agent_id=identity.agent)
            calls = plan_calls(state, allowed, k=speculator.options.k, shell_tool=self.pipeline.shell_tool)
            started = speculator.begin(calls, functools.partial(_run_tool, tools), read_only_tools=marked,
                                       conversation=identity.thread)
        except Exception as exc:
            self.pipeline.failed(events, "speculate", exc, thread=identity.thread)
            return
        if started:
            self.pipeline.emit(events, "speculated", count=started, tools=[c.name for c in calls[:started]])

    def _speculation_target(self, request: ToolCallRequest) -> tuple[str, dict[str, Any], str] | None:
        """The call to claim from speculation (``None``: not read-only, the round's results are dropped)."""
        speculator = self.speculator
        assert speculator is not None
        name = request.tool_call["name"]
        thread = self._identity(request.state).thread
        if name in speculator.options.read_only_tools or name == HIVE_EXPAND_TOOL_NAME or is_read_only(request.tool):
            return name, dict(request.tool_call["args"]), thread
        speculator.discard(conversation=thread)
        return None

    def _speculated_message(self, request: ToolCallRequest, hit: bool, output: Any) -> ToolMessage | None:
        if not hit:
            return None
        self.pipeline.emit([], "speculation_hit", tool=request.tool_call["name"])
        return ToolMessage(content=output, tool_call_id=request.tool_call["id"], name=request.tool_call["name"])

    def _speculated(self, request: ToolCallRequest) -> ToolMessage | None:
        if self.speculator is None:
            return None
        try:
            target = self._speculation_target(request)
            if target is None:
                return None
            name, args, thread = target
            hit, output = self.speculator.claim(name, args, conversation=thread)
        except Exception as exc:
            self.pipeline.failed([], "speculate", exc)
            return None
        return self._speculated_message(request, hit, output)

    async def _aspeculated(self, request: ToolCallRequest) -> ToolMessage | None:
        if self.speculator is None:
            return None
        try:
            target = self._speculation_target(request)
            if target is None:
                return None
            name, args, thread = target
            hit, output = await self.speculator.aclaim(name, args, conversation=thread)
        except Exception as exc:
            self.pipeline.failed([], "speculate", exc)
            return None
        return self._speculated_message(request, hit, output)

    # -- wrap_tool_call: cache ---------------------------------------------------

    def _cached(self, request: ToolCallRequest) -> ToolMessage | None:
        if self.tool_cache is None:
            return None
        try:
            hit = self.tool_cache.lookup(request.tool_call["name"], request.tool_call["args"])
        except Exception as exc:
            self.pipeline.failed([], "tool_cache", exc)
            return None
        if hit is None:
            return None
        self.pipeline.emit([], "cache_hit", tool=request.tool_call["name"])
        return ToolMessage(content=hit, tool_call_id=request.tool_call["id"], name=request.tool_call["name"])

    def _store(self, request: ToolCallRequest, result: Any) -> Any:
        if self.tool_cache is not None and isinstance(result, ToolMessage) and result.status != "error":
            try:
                self.tool_cache.store(request.tool_call["name"], request.tool_call["args"], result.content)
            except Exception as exc:
                self.pipeline.failed([], "tool_cache", exc)
        return result

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Serve read-only tools from speculation or cache (results are remembered by the next model hook)."""
        return self._speculated(request) or self._cached(request) or self._store(request, handler(request))

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async :meth:`wrap_tool_call`."""
        return (await self._aspeculated(request) or self._cached(request)
                or self._store(request, await handler(request)))


def _run_tool(tools: dict[str, BaseTool], name: str, arguments: Any) -> Any:
    """Run a tool the way the agent's tool node would, returning the content of its ToolMessage."""
    call = {"type": "tool_call", "name": name, "args": dict(arguments), "id": f"hive_speculative_{uuid.uuid4().hex[:12]}"}
    result = tools[name].invoke(call)
    if isinstance(result, ToolMessage):
        if result.status == "error":
            raise HiveRuntimeError(f"speculative call of {name} returned an error: {str(result.content)[:200]}", tool=name)
        return result.content
    return result
