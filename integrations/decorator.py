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
  under the guard (limiter, breaker, retries, fallbacks). The latest
  observation and the returned tool calls are remembered, each call ``caused_by``
  its observation.

* **A loop** that declares a ``hive`` parameter gets a :class:`HiveStep` and
  calls ``hive.completion(**kwargs)`` (or ``await hive.acompletion(...)``) where
  it called ``litellm.completion``; the same routing, compression, guard and
  memory apply to each call. A routed step comes back as a litellm response
  whose message carries the tool call.

Hive errors inside the hooks fail open; the guard fails closed.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from hive_middleware.integrations.session import HiveEvent, HiveSession, action_of_call, author_metadata

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


def _routed_message(session: HiveSession, decision: RouteDecision) -> Message:
    assert decision.action is not None
    call = session.tool_call_for(decision.action)
    return Message(
        role="assistant",
        content=None,
        tool_calls=[{"id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": json.dumps(call["args"])}}],
    )


class HiveStep:
    """Hive's hooks for one agent, usable inside any loop (see the module docstring).

    Args:
        stack: A ``HiveStack``.
        model: Default model name for the guard and token counting.
        agent: Agent name used in memory keys.
        thread: Conversation id used in memory keys.
        route, compress, remember, recall_k: Switch each job on or off.
        shell_tool: Tool that runs a routed shell command.
        tools: Names of the tools the agent has (a routed call to another tool escalates).
    """

    def __init__(
        self,
        stack: Any,
        *,
        model: str | None = None,
        agent: str = "agent",
        thread: str = "main",
        route: bool = True,
        compress: bool = True,
        remember: bool = True,
        recall_k: int = 3,
        shell_tool: str = "bash",
        tools: Sequence[str] | None = None,
    ) -> None:
        self.stack = stack
        self.model = model
        self.thread = thread
        self.tools = list(tools) if tools is not None else None
        self.session = HiveSession(stack, agent=agent, route=route, compress=compress, remember=remember,
                                   recall_k=recall_k, model=model, shell_tool=shell_tool)
        self.events: list[HiveEvent] = []
        self.llm_calls = 0
        self.routed = 0
        self._turns = 0

    # -- shared pieces ----------------------------------------------------------

    def _observation_items(self, messages: Sequence[Message]) -> tuple[str | None, list[Any]]:
        """The memory item of the latest observation (tool result or user turn), and its key."""
        if not messages:
            return None, []
        last = messages[-1]
        role = last.get("role")
        if role == "tool":
            call_id = str(last.get("tool_call_id"))
            key = self.session.result_key(self.thread, call_id)
            return key, [(key, f"tool result: {message_text(last)}", self.session.call_key(self.thread, call_id),
                          {"type": "tool_result", "thread": self.thread})]
        if role == "user":
            self._turns += 1
            key = self.session.turn_key(self.thread, self._turns)
            meta = {"type": "turn", "thread": self.thread} | author_metadata(last.get("name"))
            return key, [(key, message_text(last), None, meta)]
        return None, []

    def _call_items(self, message: Mapping[str, Any] | None, cause: str | None, routed: bool) -> list[Any]:
        items: list[Any] = []
        for call in (message or {}).get("tool_calls") or []:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {"command": str(fn.get("arguments"))}
            items.append((self.session.call_key(self.thread, str(call.get("id"))),
                          f"{fn.get('name')} call: {action_of_call(str(fn.get('name')), args)}", cause,
                          {"type": "tool_call", "thread": self.thread, "routed": routed}))
        return items

    def _tool_names(self, kwargs: Mapping[str, Any]) -> list[str] | None:
        if self.tools is not None:
            return self.tools
        tools = kwargs.get("tools")
        if not tools:
            return None
        return [str((t.get("function") or {}).get("name") or t.get("name")) for t in tools if isinstance(t, Mapping)]

    # -- a step: route, prepare, call, remember -------------------------------------

    def before(self, messages: Sequence[Message], tools: Sequence[str] | None) -> tuple[Any, list[Message], str | None]:
        """Route and prepare one step: ``(routed decision or None, messages to send, cause key)``."""
        events = self.events
        cause, items = self._observation_items(messages)
        self.session.remember(items, events)
        decision = self.session.route(messages, tools=tools, events=events)
        if decision is not None:
            return decision, list(messages), cause
        prepared = self.session.prepare(messages, thread=self.thread)
        events.extend(prepared.events)
        return None, prepared.messages, cause

    async def abefore(self, messages: Sequence[Message], tools: Sequence[str] | None) -> tuple[Any, list[Message], str | None]:
        """Async :meth:`before`."""
        events = self.events
        cause, items = self._observation_items(messages)
        await self.session.aremember(items, events)
        decision = await self.session.aroute(messages, tools=tools, events=events)
        if decision is not None:
            return decision, list(messages), cause
        prepared = await self.session.aprepare(messages, thread=self.thread)
        events.extend(prepared.events)
        return None, prepared.messages, cause

    def after(self, result: Any, cause: str | None, routed: bool) -> None:
        """Remember the tool calls a step produced, ``caused_by`` its observation."""
        self.session.remember(self._call_items(_as_message(result), cause, routed), self.events)

    async def aafter(self, result: Any, cause: str | None, routed: bool) -> None:
        """Async :meth:`after`."""
        await self.session.aremember(self._call_items(_as_message(result), cause, routed), self.events)

    def _guard_model(self, kwargs: Mapping[str, Any]) -> str:
        return str(kwargs.get("model") or self.model or getattr(getattr(self.stack, "config", None), "model", "default"))

    def _routed_response(self, decision: RouteDecision, kwargs: Mapping[str, Any]) -> Any:
        from hive_middleware.tokens import load_litellm

        message = _routed_message(self.session, decision)
        # litellm's offline mock builds a real ModelResponse carrying the tool call.
        return load_litellm().completion(
            model=self._guard_model(kwargs), messages=[{"role": "user", "content": "routed"}],
            mock_response="", mock_tool_calls=message["tool_calls"],
        )

    def completion(self, **kwargs: Any) -> Any:
        """``litellm.completion(**kwargs)`` with Hive (routing, compression, guard, memory)."""
        messages = list(kwargs.get("messages") or [])
        decision, prepared, cause = self.before(messages, self._tool_names(kwargs))
        if decision is not None:
            self.routed += 1
            response = self._routed_response(decision, kwargs)
        else:
            self.llm_calls += 1
            response = self.stack.guard.completion(**{**kwargs, "messages": prepared})
        self.after(response, cause, decision is not None)
        return response

    async def acompletion(self, **kwargs: Any) -> Any:
        """``await litellm.acompletion(**kwargs)`` with Hive."""
        messages = list(kwargs.get("messages") or [])
        decision, prepared, cause = await self.abefore(messages, self._tool_names(kwargs))
        if decision is not None:
            self.routed += 1
            response = self._routed_response(decision, kwargs)
        else:
            self.llm_calls += 1
            response = await self.stack.guard.acompletion(**{**kwargs, "messages": prepared})
        await self.aafter(response, cause, decision is not None)
        return response


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
    stack_holder: dict[str, Any] = {}

    def hive_step() -> HiveStep:
        stack = options.get("stack") or stack_holder.get("stack")
        if stack is None:
            stack = stack_holder["stack"] = _default_stack()
        opts = {k: v for k, v in options.items() if k != "stack"}
        return HiveStep(stack, **opts)

    step_holder: dict[str, HiveStep] = {}

    def shared_step() -> HiveStep:
        if "step" not in step_holder:
            step_holder["step"] = hive_step()
        return step_holder["step"]

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[inspect.BoundArguments, list[Message]]:
        bound = signature.bind(*args, **kwargs)
        return bound, list(bound.arguments.get(messages_arg or "", []) or [])

    def guarded(step: HiveStep, call: Callable[[str], Any], model: str) -> Any:
        return step.stack.guard.execute(call, model=model)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if wants_hive:
                kwargs.setdefault("hive", hive_step())
                return await fn(*args, **kwargs)
            step = shared_step()
            bound, messages = split(args, kwargs)
            decision, prepared, cause = await step.abefore(messages, step.tools)
            if decision is not None:
                step.routed += 1
                result: Any = _routed_message(step.session, decision)
            else:
                step.llm_calls += 1
                if messages_arg is not None:
                    bound.arguments[messages_arg] = prepared
                model = step._guard_model(bound.arguments)
                result = await step.stack.guard.aexecute(
                    lambda _name: fn(*bound.args, **bound.kwargs), model=model)
            await step.aafter(result, cause, decision is not None)
            return result

        async_wrapper.hive = shared_step  # type: ignore[attr-defined]
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        if wants_hive:
            kwargs.setdefault("hive", hive_step())
            return fn(*args, **kwargs)
        step = shared_step()
        bound, messages = split(args, kwargs)
        decision, prepared, cause = step.before(messages, step.tools)
        if decision is not None:
            step.routed += 1
            result: Any = _routed_message(step.session, decision)
        else:
            step.llm_calls += 1
            if messages_arg is not None:
                bound.arguments[messages_arg] = prepared
            result = guarded(step, lambda _name: fn(*bound.args, **bound.kwargs), step._guard_model(bound.arguments))
        step.after(result, cause, decision is not None)
        return result

    sync_wrapper.hive = shared_step  # type: ignore[attr-defined]
    return sync_wrapper  # type: ignore[return-value]


@overload
def agent(fn: F, /) -> F: ...


@overload
def agent(
    *,
    stack: Any = None,
    model: str | None = None,
    agent: str = "agent",
    thread: str = "main",
    route: bool = True,
    compress: bool = True,
    remember: bool = True,
    recall_k: int = 3,
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
