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
    if calls:
        rendered = [
            f"{c.get('function', {}).get('name', '')}({c.get('function', {}).get('arguments', '')})"
            for c in calls
            if isinstance(c, Mapping)
        ]
        text = (text + "\n" if text else "") + "\n".join(rendered)
    return text


def _fail(index: int, field_name: str, problem: str) -> HiveValidationError:
    return HiveValidationError(
        f"messages[{index}].{field_name}: {problem}", index=index, field=field_name
    )


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
            UTF-8, a tool call without id/function, a tool message without
            ``tool_call_id``, or a tool result whose call is not in an earlier
            assistant message.
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
        if role not in ROLES:
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
                if not isinstance(part, Mapping) or "type" not in part:
                    raise _fail(i, f"content[{j}]", "each content part must be a dict with a 'type'")
        if max_chars is not None:
            size = len(message_text(msg))
            if size > max_chars:
                raise _fail(i, "content", f"is {size} characters, over the configured maximum {max_chars}; raise max_message_chars or split it")
        calls = msg.get("tool_calls")
        if calls is not None:
            if role != "assistant":
                raise _fail(i, "tool_calls", "only assistant messages may carry tool calls")
            if not isinstance(calls, list):
                raise _fail(i, "tool_calls", "must be a list")
            for j, call in enumerate(calls):
                if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
                    raise _fail(i, f"tool_calls[{j}].id", "each tool call needs a string id")
                fn = call.get("function")
                if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                    raise _fail(i, f"tool_calls[{j}].function", "needs a dict with a string 'name'")
                open_calls.add(call["id"])
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
