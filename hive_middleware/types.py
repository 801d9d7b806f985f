"""Core value types: OpenAI-format messages, agent states, actions, memories.

Messages stay plain dicts in the OpenAI chat format (what LiteLLM speaks), typed
with :class:`Message`; :func:`validate_messages` checks them at the boundary and
names the message index and field of the first problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypedDict

from hive_middleware.errors import HiveValidationError

__all__ = [
    "CONTENT_PART_TYPES",
    "ROLES",
    "Action",
    "AgentState",
    "Edge",
    "EdgeKind",
    "MemoryKind",
    "MemoryRecord",
    "Message",
    "RouteDecision",
    "Step",
    "ToolCall",
    "message_text",
    "validate_messages",
]

Role = Literal["system", "user", "assistant", "tool"]
ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool", "developer", "function"})


class ToolCallFunction(TypedDict):
    """The function part of an OpenAI tool call."""

    name: str
    arguments: str


class ToolCall(TypedDict):
    """An OpenAI tool call inside an assistant message."""

    id: str
    type: Literal["function"]
    function: ToolCallFunction


class Message(TypedDict, total=False):
    """One OpenAI chat message. ``role`` is required; the rest depends on the role."""

    role: str
    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[ToolCall]
    tool_call_id: str


def message_text(message: Mapping[str, Any]) -> str:
    """Return the text of a message: string content, or its text parts joined.

    Tool-call arguments are appended so a message that only calls a tool still has text.
    Malformed parts or calls (not dicts, no ``function`` dict) contribute nothing:
    this reads; :func:`validate_messages` is where shapes are refused.
    """
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping)
        )
    else:
        text = ""
    calls = message.get("tool_calls") or []
    if calls and isinstance(calls, list):
        rendered = []
        for call in calls:
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping):
                rendered.append(f"{fn.get('name', '')}({fn.get('arguments', '')})")
        if rendered:
            text = (text + "\n" if text else "") + "\n".join(rendered)
    return text


CONTENT_PART_TYPES: frozenset[str] = frozenset({
    "text", "image_url", "image", "input_audio", "document", "file", "tool_use", "tool_result",
    "search_result", "thinking", "redacted_thinking", "tool_reference",
})
"""Content-part ``type`` values accepted: OpenAI parts and the Anthropic-style blocks
LiteLLM counts and forwards."""


def _fail(index: int, field_name: str, problem: str) -> HiveValidationError:
    return HiveValidationError(
        f"messages[{index}].{field_name}: {problem}", index=index, field=field_name
    )


def _json_problem(value: object) -> str | None:
    """Why ``value`` cannot be sent as JSON (a datetime, bytes, a set...), or None."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(exc)
    except RecursionError:
        return "it is nested too deeply"
    return None


def _check_part(index: int, j: int, part: object) -> None:
    where = f"content[{j}]"
    if not isinstance(part, Mapping):
        raise _fail(index, where, f"must be a dict with a 'type', got {type(part).__name__}")
    kind = part.get("type")
    if not isinstance(kind, str) or kind not in CONTENT_PART_TYPES:
        raise _fail(
            index, f"{where}.type",
            f"unknown content part type {kind!r}; use one of {sorted(CONTENT_PART_TYPES)} "
            "(text goes in {'type': 'text', 'text': '...'})",
        )
    if kind == "text" and not isinstance(part.get("text"), str):
        raise _fail(index, f"{where}.text", f"a text part needs a string 'text', got {type(part.get('text')).__name__}")
    if kind == "image_url":
        url = part.get("image_url")
        if not isinstance(url, str) and not (isinstance(url, Mapping) and isinstance(url.get("url"), str)):
            raise _fail(index, f"{where}.image_url", "needs a URL string or a dict with a string 'url'")
    problem = _json_problem(part)
    if problem is not None:
        raise _fail(index, where, f"must hold JSON values only (strings, numbers, lists, dicts): {problem}")


def _check_tool_calls(index: int, role: object, calls: object, open_calls: set[str]) -> None:
    if role != "assistant":
        raise _fail(index, "tool_calls", "only assistant messages may carry tool calls")
    if not isinstance(calls, list):
        raise _fail(index, "tool_calls", f"must be a list of tool calls, got {type(calls).__name__}")
    for j, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise _fail(index, f"tool_calls[{j}]", f"must be a dict with 'id' and 'function', got {type(call).__name__}")
        if not isinstance(call.get("id"), str):
            raise _fail(index, f"tool_calls[{j}].id", "each tool call needs a string id")
        fn = call.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise _fail(
                index, f"tool_calls[{j}].function",
                f"needs a dict with a string 'name' and JSON 'arguments', got {type(fn).__name__}",
            )
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, str | Mapping):
            raise _fail(
                index, f"tool_calls[{j}].function.arguments",
                f"must be a JSON string (or a dict), got {type(arguments).__name__}",
            )
        problem = _json_problem(call)
        if problem is not None:
            raise _fail(index, f"tool_calls[{j}]", f"must hold JSON values only: {problem}")
        open_calls.add(call["id"])


def validate_messages(messages: object, *, max_chars: int | None = None) -> list[Message]:
    """Check that ``messages`` is a valid OpenAI chat message list.

    Args:
        messages: The candidate list.
        max_chars: If given, refuse any message whose text is longer.

    Returns:
        The same messages, typed.

    Raises:
        HiveValidationError: naming the index and field of the first problem: not a
            list, not a dict, unknown role, content of a wrong type or not valid
            UTF-8, a content part of an unknown type or holding non-JSON values
            (a datetime, bytes), a malformed tool call (not a list, no id, no
            ``function`` dict), a ``name`` that is not a string, a tool message
            without ``tool_call_id``, or a tool result whose call is not in an
            earlier assistant message.
    """
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise HiveValidationError(
            f"messages must be a list of dicts, got {type(messages).__name__}",
            field="messages",
        )
    open_calls: set[str] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise _fail(i, "<message>", f"must be a dict, got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _fail(i, "role", f"unknown role {role!r}; use one of {sorted(ROLES)}")
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _fail(i, "content", f"must be a string, a list of parts or None, got {type(content).__name__}")
        if isinstance(content, str):
            try:
                content.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _fail(i, "content", f"is not valid UTF-8 ({exc.reason} at {exc.start})") from exc
        if isinstance(content, list):
            for j, part in enumerate(content):
                _check_part(i, j, part)
        name = msg.get("name")
        if name is not None and not isinstance(name, str):
            raise _fail(i, "name", f"must be a string, got {type(name).__name__}")
        calls = msg.get("tool_calls")
        if calls is not None:
            _check_tool_calls(i, role, calls, open_calls)
        if max_chars is not None:
            size = len(message_text(msg))
            if size > max_chars:
                raise _fail(i, "content", f"is {size} characters, over the configured maximum {max_chars}; raise max_message_chars or split it")
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str):
                raise _fail(i, "tool_call_id", "a tool message needs the id of the call it answers")
            if call_id not in open_calls:
                raise _fail(i, "tool_call_id", f"{call_id!r} answers no earlier assistant tool call")
    return list(messages)


@dataclass(frozen=True, slots=True)
class Action:
    """An agent action: a shell-style command string, or a tool name with arguments.

    For shell agents ``name`` is ``"bash"``-like and ``command`` holds the whole
    command line; for tool-calling agents ``arguments`` holds the JSON arguments.
    """

    command: str
    name: str | None = None
    arguments: Mapping[str, Any] | None = None

    def normalized(self) -> str:
        """The form used for exact-match comparison: whitespace collapsed only."""
        if self.arguments is not None:
            return f"{self.name}:{json.dumps(self.arguments, sort_keys=True, separators=(',', ':'))}"
        return " ".join(self.command.split())


@dataclass(frozen=True, slots=True)
class Step:
    """One past step of an agent: what it did and what it saw."""

    action: str
    observation: str
    thought: str | None = None


@dataclass(frozen=True, slots=True)
class AgentState:
    """What the router may see: never the next action or anything derived from it.

    Attributes:
        goal: The task text (issue, user request).
        history: Past steps, oldest first.
        step_index: Index of the step about to be taken (== len(history) normally).
        env: Environment facts when known (``open_file``, ``working_dir``...).
        agent_id: Who is acting (for feedback bookkeeping).
    """

    goal: str
    history: tuple[Step, ...] = ()
    step_index: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    agent_id: str = "default"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The router's answer for one state.

    ``action`` is ``None`` when ``escalated`` is true: the LLM must decide.
    """

    action: Action | None
    template: str | None
    confidence: float
    escalated: bool
    reason: str
    decision_id: str = ""


class MemoryKind(StrEnum):
    """Cognitive kinds of memory, each with its own retention rules."""

    SENSORY = "sensory"
    WORKING = "working"
    EPISODIC = "episodic"
    SEMANTIC = "semantic"
    PROCEDURAL = "procedural"
    PROSPECTIVE = "prospective"
    ARTIFACT = "artifact"


class EdgeKind(StrEnum):
    """Kinds of links between memories."""

    CAUSED_BY = "caused_by"
    SUPERSEDES = "supersedes"
    RELATED_TO = "related_to"
    ATTACHED_TO = "attached_to"
    CONFIRMED_BY = "confirmed_by"
    CONTRADICTS = "contradicts"
    DERIVED_FROM = "derived_from"


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One version of one memory, bi-temporal.

    ``valid_from``/``valid_to`` are world time (``valid_to=None``: still true);
    ``recorded_at``/``expired_at`` are HLC timestamps of when this store learned
    it and stopped believing it (``expired_at=None``: current belief).
    """

    id: str
    namespace: tuple[str, ...]
    kind: MemoryKind
    content: str
    recorded_at: int
    key: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    trust: float = 1.0
    tags: tuple[str, ...] = ()
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    expired_at: int | None = None

    @property
    def tenant(self) -> str:
        """The first namespace element: the tenant that owns this record."""
        return self.namespace[0]


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed link ``src --kind--> dst`` between two memory ids."""

    src: str
    dst: str
    kind: EdgeKind
    recorded_at: int
    metadata: Mapping[str, Any] = field(default_factory=dict)
