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

Read-only tools: give ``read_only_tools={"read_file": read_file, ...}`` (the
functions, called with the call's arguments as keywords) and run tools through
``hive.run_tool(name, arguments)`` (a step function: ``wrapper.hive().run_tool``).
A repeated read-only call is answered from the tool-output cache; with
``speculate=k`` the ``k`` read-only calls the agent is likely to make next run in
the background while the model thinks and a matching ``run_tool`` is served from
them. A tool not in ``read_only_tools`` is never run speculatively, and running
one (``run_tool(name, arguments, run=...)``) drops the round's unclaimed results.

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

from hive_middleware.integrations.tool_cache import ToolOutputCache

from hive_middleware.errors import HiveUsageError, HiveValidationError
from hive_middleware.pipeline import CallOptions, HiveEvent, Identity, MemoryItem, Pipeline, new_thread_id
from hive_middleware.pipeline.identity import RecallScope
from hive_middleware.pipeline.messages import is_memory_message
from hive_middleware.pipeline.speculation import SpeculationOptions, Speculator, plan_calls
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
        read_only_tools: Tools without side effects, by name, with the function that
            runs each (called with the arguments as keywords); cached, and
            pre-executed with ``speculate``.
        speculate: Pre-execute up to this many predicted read-only calls while the
            model thinks (an int k, or :class:`SpeculationOptions`); ``None``: off.
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
        read_only_tools: Mapping[str, Callable[..., Any]] | None = None,
        speculate: int | SpeculationOptions | None = None,
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
        self.tool_functions, self.tool_cache, self.speculator = _read_only_setup(read_only_tools, speculate)

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

    # -- tools: cache and speculation -----------------------------------------------------

    def _speculate(self, messages: Sequence[Message]) -> None:
        speculator = self.speculator
        if speculator is None:
            return
        try:
            calls = plan_calls(list(messages), self.tool_functions, k=speculator.options.k,
                               shell_tool=self.pipeline.shell_tool)
            started = speculator.begin(calls, self._run_read_only, conversation=self.identity.thread)
        except Exception as exc:
            self.pipeline.failed(self.events, "speculate", exc, thread=self.identity.thread)
            return
        if started:
            self.pipeline.emit(self.events, "speculated", count=started, tools=[c.name for c in calls[:started]])

    def _answered(self) -> None:
        if self.speculator is not None:
            self.speculator.answered(conversation=self.identity.thread)

    def _run_read_only(self, name: str, arguments: Mapping[str, Any]) -> Any:
        return self.tool_functions[name](**dict(arguments))

    def _tool_runner(self, name: str, arguments: Mapping[str, Any], run: Callable[[], Any] | None) -> Callable[[], Any]:
        if run is not None:
            return run
        if name not in self.tool_functions:
            raise HiveUsageError(
                f"run_tool({name!r}) has no function to run: pass run=... or give the tool in read_only_tools",
                tool=name,
            )
        return lambda: self._run_read_only(name, arguments)

    def run_tool(self, name: str, arguments: Mapping[str, Any], run: Callable[[], Any] | None = None) -> Any:
        """Run a tool call through Hive: from speculation or the cache when it is read-only.

        Args:
            name: The tool.
            arguments: Its arguments.
            run: Runs the call (default: the function given in ``read_only_tools``).

        Returns:
            The tool's output.

        Raises:
            HiveUsageError: no ``run`` and the tool is not in ``read_only_tools``.
        """
        runner = self._tool_runner(name, arguments, run)
        if name not in self.tool_functions:
            if self.speculator is not None:
                self.speculator.discard(conversation=self.identity.thread)
            return runner()
        if self.speculator is not None:
            hit, output = self.speculator.claim(name, arguments, conversation=self.identity.thread)
            if hit:
                self.pipeline.emit(self.events, "speculation_hit", tool=name)
                return output
        assert self.tool_cache is not None
        output, cached = self.tool_cache.call(name, dict(arguments), runner)
        if cached:
            self.pipeline.emit(self.events, "cache_hit", tool=name)
        return output

    async def arun_tool(
        self, name: str, arguments: Mapping[str, Any], run: Callable[[], Any] | None = None
    ) -> Any:
        """Async :meth:`run_tool`: waits for a matching speculative call without blocking the loop.

        ``run`` (or the registered function) may return an awaitable; it is awaited.
        """
        runner = self._tool_runner(name, arguments, run)

        async def execute() -> Any:
            output = runner()
            return await output if inspect.isawaitable(output) else output

        if name not in self.tool_functions:
            if self.speculator is not None:
                self.speculator.discard(conversation=self.identity.thread)
            return await execute()
        if self.speculator is not None:
            hit, output = await self.speculator.aclaim(name, arguments, conversation=self.identity.thread)
            if hit:
                self.pipeline.emit(self.events, "speculation_hit", tool=name)
                return output
        assert self.tool_cache is not None
        cached = self.tool_cache.lookup(name, dict(arguments))
        if cached is not None:
            self.pipeline.emit(self.events, "cache_hit", tool=name)
            return cached
        output = await execute()
        self.tool_cache.store(name, dict(arguments), output)
        return output

    def close(self) -> None:
        """Stop the speculation threads (a no-op without ``speculate``)."""
        if self.speculator is not None:
            self.speculator.close()

    # -- a step ---------------------------------------------------------------------------

    def call(self, messages: Sequence[Message], call: Callable[[list[Message]], Any],
             tools: Sequence[str] | None = None, routed: Callable[[RouteDecision], Any] | None = None) -> Any:
        """One step around ``call(view)`` (the guarded model call); returns its result or the routed one."""
        self._follow(messages)
        self._speculate(messages)
        try:
            outcome = self.pipeline.step(list(messages), self.identity, call, tools=tools, events=self.events,
                                         start=self._seen, local_ids=self._local_ids(len(messages)))
        finally:
            self._answered()
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
        self._speculate(messages)
        try:
            outcome = await self.pipeline.astep(list(messages), self.identity, call, tools=tools,
                                                events=self.events, start=self._seen,
                                                local_ids=self._local_ids(len(messages)))
        finally:
            self._answered()
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


def _read_only_setup(
    functions: Mapping[str, Callable[..., Any]] | None, speculate: int | SpeculationOptions | None,
) -> tuple[dict[str, Callable[..., Any]], ToolOutputCache | None, Speculator | None]:
    """The read-only tool functions, their cache and (with ``speculate``) the speculator."""
    if functions is not None and (not isinstance(functions, Mapping) or
                                  not all(callable(f) for f in functions.values())):
        raise HiveValidationError(
            "read_only_tools must map each read-only tool's name to the function that runs it, "
            "e.g. read_only_tools={'read_file': read_file}",
            field="read_only_tools",
        )
    tools = {str(name): fn for name, fn in (functions or {}).items()}
    if speculate is not None and (isinstance(speculate, bool) or not isinstance(speculate, int | SpeculationOptions)):
        raise HiveValidationError(
            f"speculate must be an int k or SpeculationOptions, got {type(speculate).__name__}", field="speculate"
        )
    options = SpeculationOptions(k=speculate) if isinstance(speculate, int) else speculate
    if options is not None and options.k > 0 and not tools:
        raise HiveValidationError(
            "speculate needs read-only tools to run: give read_only_tools={'name': function, ...}",
            field="read_only_tools",
        )
    cache = ToolOutputCache(read_only_tools=tools) if tools else None
    if cache is None or options is None or options.k == 0:
        return tools, cache, None
    options = SpeculationOptions(k=options.k, budget_s=options.budget_s, max_workers=options.max_workers,
                                 read_only_tools=frozenset(tools))
    return tools, cache, Speculator(cache, options)


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
    read_only_tools: Mapping[str, Callable[..., Any]] | None = None,
    speculate: int | SpeculationOptions | None = None,
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
