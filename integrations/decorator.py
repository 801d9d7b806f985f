"""``@hive_middleware.agent``: Hive around a plain agent step function or loop.

Tenacity-style: ``@agent`` and ``@agent(stack=..., model=...)`` both work, and a
coroutine function gets an async wrapper. Two shapes are supported:

* **A step function** whose first argument (or ``messages=``) is the OpenAI
  message list and which calls the model once (through litellm or an
  OpenAI-compatible client) and returns the assistant message (a dict or an
  object with ``model_dump()``) or the whole completion response::

      @agent(stack=stack, model="gpt-4o")
      def step(messages):
          return litellm.completion(model="gpt-4o", messages=messages, tools=TOOLS)

  Each call is routed first: a confident mechanical step returns an assistant
  message dict with the tool call and the function is not called. Otherwise the
  function gets the compressed message list (with recalled memory) and runs
  under the guard (limiter, breaker, retries, fallbacks). What is new in the
  conversation (user turns, tool results) and what the step returned (tool
  calls, answers) are remembered, causally linked, once committed.

* **A loop** that declares a ``hive`` parameter gets a :class:`HiveStep` and
  calls ``hive.completion(**kwargs)`` (or ``await hive.acompletion(...)``) where
  it called ``litellm.completion``; the same routing, compression, guard and
  memory apply to each call. A routed step comes back as a litellm response
  whose message carries the tool call.

Memories are written under ``(tenant, agent, thread)``: every call of a loop is a
new run with a fresh thread (or a new run within the ``thread`` it is given), and
a step function starts a new run when its message list no longer extends the
previous call's. Hive errors inside the hooks fail open; the guard fails closed.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from hive_middleware.pipeline import CallOptions, HiveEvent, Identity, MemoryItem, Pipeline, new_thread_id
from hive_middleware.pipeline.identity import RecallScope
from hive_middleware.pipeline.messages import is_memory_message
from hive_middleware.types import Message, RouteDecision, message_text

__all__ = ["HiveStep", "agent"]

F = TypeVar("F", bound=Callable[..., Any])


def _default_stack() -> Any:
    from hive_middleware.stack import HiveStack

    return HiveStack.from_config()


def _as_message(result: Any) -> dict[str, Any] | None:
    """The assistant message inside a step result (dict, message object or completion response)."""
    if isinstance(result, Mapping):
        if "choices" in result:
            return _as_message(result["choices"][0].get("message"))
        return dict(result) if result.get("role") == "assistant" else None
    choices = getattr(result, "choices", None)
    if choices:
        return _as_message(getattr(choices[0], "message", None))
    dump = getattr(result, "model_dump", None)
    if callable(dump):
        data = dump()
        return data if isinstance(data, dict) else None
    return None


def _routed_message(pipeline: Pipeline, decision: RouteDecision) -> Message:
    assert decision.action is not None
    call = pipeline.tool_call_for(decision.action)
    return Message(
        role="assistant",
        content=None,
        tool_calls=[{"id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": json.dumps(call["args"])}}],
    )


def _run_prefix() -> str:
    return f"r{new_thread_id()[4:16]}."


def _goal(messages: Sequence[Message]) -> str:
    first = next((m for m in messages if m.get("role") == "user" and not is_memory_message(m)), None)
    return message_text(first) if first is not None else ""


class HiveStep:
    """Hive's hooks for one agent run, usable inside any loop (see the module docstring).

    Memories are written under ``(tenant, agent, thread)``. The thread is ``thread``
    when given (a run continuing a conversation), else a fresh id for each run: a
    loop gets a new :class:`HiveStep` per call, and a step function starts a new
    run when its message list stops extending the previous one.

    Args:
        stack: A ``HiveStack``.
        model: Default model name for the guard and token counting.
        tenant: Whose memory it is (default: the stack's ``config.tenant``).
        agent: Agent name (second namespace element).
        thread: Conversation id to continue (default: a fresh id per run).
        route, compress, remember, recall_k: Switch each job on or off.
        recall_scope: Where recall reads: ``thread``, ``agent`` or ``tenant`` (default).
        shell_tool: Tool that runs a routed shell command.
        tools: Names of the tools the agent has (a routed call to another tool escalates).
    """

    def __init__(
        self,
        stack: Any,
        *,
        model: str | None = None,
        tenant: str | None = None,
        agent: str = "agent",
        thread: str | None = None,
        route: bool = True,
        compress: bool = True,
        remember: bool = True,
        recall_k: int = 3,
        recall_scope: RecallScope = "tenant",
        shell_tool: str = "bash",
        tools: Sequence[str] | None = None,
    ) -> None:
        self.stack = stack
        self.model = model
        self.tools = list(tools) if tools is not None else None
        options = CallOptions(compress=compress, recall_k=recall_k, recall_scope=recall_scope, route=route,
                              remember=remember, model=model)
        self.pipeline = Pipeline(stack, options=options, shell_tool=shell_tool)
        config = getattr(stack, "config", None)
        self._tenant = tenant or str(getattr(config, "tenant", "default"))
        self._agent = agent
        self._fixed_thread = thread
        self.identity = Identity(self._tenant, agent, thread or new_thread_id())
        self.run = 0
        # A run within a given thread names its messages apart from the thread's earlier runs.
        self._run_prefix = "" if thread is None else _run_prefix()
        self._seen = 0
        self._goal: str | None = None
        self.events: list[HiveEvent] = []
        self.llm_calls = 0
        self.routed = 0

    # -- runs ------------------------------------------------------------------------

    def new_run(self) -> None:
        """Start a new run: a fresh thread, or (with a given thread) a new run within it."""
        self.run += 1
        self._seen = 0
        self._goal = None
        if self._fixed_thread is None:
            self.identity = Identity(self._tenant, self._agent, new_thread_id())
            self._run_prefix = ""
        else:  # the run continues the given thread: its messages get keys of their own
            self._run_prefix = _run_prefix()

    def _follow(self, messages: Sequence[Message]) -> None:
        goal = _goal(messages)
        if self._goal is not None and (len(messages) < self._seen or goal != self._goal):
            self.new_run()
        self._goal = goal

    def _local_ids(self, count: int) -> list[str | None] | None:
        return [f"{self._run_prefix}{i}" for i in range(count)] if self._run_prefix else None

    def _tool_names(self, kwargs: Mapping[str, Any]) -> list[str] | None:
        if self.tools is not None:
            return self.tools
        tools = kwargs.get("tools")
        if not tools:
            return None
        return [str((t.get("function") or {}).get("name") or t.get("name")) for t in tools if isinstance(t, Mapping)]

    def _guard_model(self, kwargs: Mapping[str, Any]) -> str:
        return str(kwargs.get("model") or self.model or getattr(getattr(self.stack, "config", None), "model", "default"))

    def _routed_response(self, decision: RouteDecision, kwargs: Mapping[str, Any]) -> Any:
        from hive_middleware.tokens import load_litellm

        message = _routed_message(self.pipeline, decision)
        # litellm's offline mock builds a real ModelResponse carrying the tool call.
        return load_litellm().completion(
            model=self._guard_model(kwargs), messages=[{"role": "user", "content": "routed"}],
            mock_response="", mock_tool_calls=message["tool_calls"],
        )

    # -- a step: remember, route, prepare, guarded call, remember ------------------------

    def _items(self, messages: Sequence[Message], response: Any) -> list[MemoryItem]:
        """The response's memory items (what it adds to the conversation)."""
        message = _as_message(response)
        convo = [*messages, dict(message)] if message is not None else list(messages)
        self._seen = len(convo)
        return self.pipeline.items(convo, self.identity, start=len(messages), local_ids=self._local_ids(len(convo)))

    def call(self, messages: Sequence[Message], call: Callable[[list[Message]], Any],
             tools: Sequence[str] | None = None, routed: Callable[[RouteDecision], Any] | None = None) -> Any:
        """One step around ``call(view)`` (the guarded model call); returns its result or the routed one."""
        self._follow(messages)
        outcome = self.pipeline.step(list(messages), self.identity, call, tools=tools, events=self.events,
                                     start=self._seen, local_ids=self._local_ids(len(messages)))
        if outcome.decision is not None:
            self.routed += 1
            response = (routed or (lambda d: _routed_message(self.pipeline, d)))(outcome.decision)
        else:
            self.llm_calls += 1
            response = outcome.response
        self.pipeline.remember(self._items(messages, response), self.events)
        return response

    async def acall(self, messages: Sequence[Message], call: Callable[[list[Message]], Awaitable[Any]],
                    tools: Sequence[str] | None = None,
                    routed: Callable[[RouteDecision], Any] | None = None) -> Any:
        """Async :meth:`call` (``call`` is a coroutine function)."""
        self._follow(messages)
        outcome = await self.pipeline.astep(list(messages), self.identity, call, tools=tools, events=self.events,
                                            start=self._seen, local_ids=self._local_ids(len(messages)))
        if outcome.decision is not None:
            self.routed += 1
            response = (routed or (lambda d: _routed_message(self.pipeline, d)))(outcome.decision)
        else:
            self.llm_calls += 1
            response = outcome.response
        await self.pipeline.aremember(self._items(messages, response), self.events)
        return response

    def completion(self, **kwargs: Any) -> Any:
        """``litellm.completion(**kwargs)`` with Hive (routing, compression, guard, memory)."""
        guard = self.stack.guard
        return self.call(
            list(kwargs.get("messages") or []),
            lambda view: guard.completion(**{**kwargs, "messages": view}),
            self._tool_names(kwargs),
            lambda decision: self._routed_response(decision, kwargs),
        )

    async def acompletion(self, **kwargs: Any) -> Any:
        """``await litellm.acompletion(**kwargs)`` with Hive."""
        guard = self.stack.guard

        async def call(view: list[Message]) -> Any:
            return await guard.acompletion(**{**kwargs, "messages": view})

        return await self.acall(
            list(kwargs.get("messages") or []), call, self._tool_names(kwargs),
            lambda decision: self._routed_response(decision, kwargs),
        )


def _messages_argument(fn: Callable[..., Any]) -> str | None:
    params = list(inspect.signature(fn).parameters)
    if "messages" in params:
        return "messages"
    if params and params[0] not in ("self", "hive"):
        return params[0]
    return None


def _decorate(fn: F, options: dict[str, Any]) -> F:
    signature = inspect.signature(fn)
    wants_hive = "hive" in signature.parameters
    messages_arg = None if wants_hive else _messages_argument(fn)
    holder: dict[str, Any] = {}

    def hive_step() -> HiveStep:
        stack = options.get("stack") or holder.get("stack")
        if stack is None:
            stack = holder["stack"] = _default_stack()
        return HiveStep(stack, **{k: v for k, v in options.items() if k != "stack"})

    def shared_step() -> HiveStep:
        if "step" not in holder:
            holder["step"] = hive_step()
        step: HiveStep = holder["step"]
        return step

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[inspect.BoundArguments, list[Message]]:
        bound = signature.bind(*args, **kwargs)
        return bound, list(bound.arguments.get(messages_arg or "", []) or [])

    def with_view(bound: inspect.BoundArguments, view: list[Message]) -> inspect.BoundArguments:
        if messages_arg is not None:
            bound.arguments[messages_arg] = view
        return bound

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if wants_hive:  # a loop: each call is a new run
                kwargs.setdefault("hive", hive_step())
                return await fn(*args, **kwargs)
            step = shared_step()
            bound, messages = split(args, kwargs)
            guard = step.stack.guard
            model = step._guard_model(bound.arguments)

            async def call(view: list[Message]) -> Any:
                b = with_view(bound, view)
                return await guard.aexecute(lambda _name: fn(*b.args, **b.kwargs), model=model)

            return await step.acall(messages, call, step.tools)

        async_wrapper.hive = shared_step  # type: ignore[attr-defined]
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        if wants_hive:  # a loop: each call is a new run
            kwargs.setdefault("hive", hive_step())
            return fn(*args, **kwargs)
        step = shared_step()
        bound, messages = split(args, kwargs)
        guard = step.stack.guard
        model = step._guard_model(bound.arguments)

        def call(view: list[Message]) -> Any:
            b = with_view(bound, view)
            return guard.execute(lambda _name: fn(*b.args, **b.kwargs), model=model)

        return step.call(messages, call, step.tools)

    sync_wrapper.hive = shared_step  # type: ignore[attr-defined]
    return sync_wrapper  # type: ignore[return-value]


@overload
def agent(fn: F, /) -> F: ...


@overload
def agent(
    *,
    stack: Any = None,
    model: str | None = None,
    tenant: str | None = None,
    agent: str = "agent",
    thread: str | None = None,
    route: bool = True,
    compress: bool = True,
    remember: bool = True,
    recall_k: int = 3,
    recall_scope: RecallScope = "tenant",
    shell_tool: str = "bash",
    tools: Sequence[str] | None = None,
) -> Callable[[F], F]: ...


def agent(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Put Hive around an agent step function or loop (``@agent`` or ``@agent(...)``).

    Args:
        fn: The function (when used bare).
        **options: See :class:`HiveStep` (``stack`` defaults to ``HiveStack.from_config()``,
            built on the first call).

    Returns:
        The wrapped function (async when ``fn`` is a coroutine function). A step
        wrapper exposes ``wrapper.hive()``, the :class:`HiveStep` holding its
        counters (``llm_calls``, ``routed``) and ``events``.
    """
    if fn is not None:
        return _decorate(fn, {})
    return lambda f: _decorate(f, options)
