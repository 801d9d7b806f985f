"""Reading OpenAI-format message lists: what the router sees, and Hive's own memory message.

Hive's recalled memory reaches the model as one system message that starts with
:data:`MEMORY_MARKER`; everything that reads a conversation skips it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hive_middleware.memory.records import MAX_AUTHOR_CHARS
from hive_middleware.types import Action, AgentState, Step, message_text

__all__ = [
    "MEMORY_MARKER",
    "action_of_call",
    "author_metadata",
    "call_arguments",
    "call_of_action",
    "is_memory_message",
    "state_from_messages",
]

MEMORY_MARKER = "[hive memory]"


def is_memory_message(message: Mapping[str, Any]) -> bool:
    """Whether a message is Hive's injected memory (skipped when reading state)."""
    if not isinstance(message, Mapping):
        return False
    content = message.get("content")
    return isinstance(content, str) and content.startswith(MEMORY_MARKER)


def action_of_call(name: str, args: Mapping[str, Any]) -> str:
    """The action string of a tool call: the command of a shell tool, else ``name {json}``."""
    if set(args) == {"command"} and isinstance(args["command"], str):
        return args["command"]
    return f"{name} {json.dumps(dict(args), sort_keys=True)}"


def call_of_action(action: Action, shell_tool: str) -> tuple[str, dict[str, Any]]:
    """The ``(tool name, arguments)`` that perform ``action``."""
    if action.arguments is not None and action.name:
        return action.name, dict(action.arguments)
    return shell_tool, {"command": action.command}


def call_arguments(call: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an OpenAI tool call as a dict (a non-JSON string becomes ``{"command": ...}``)."""
    fn = call.get("function") or {}
    raw = fn.get("arguments", "{}") if isinstance(fn, Mapping) else "{}"
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {"command": str(raw)}
    return parsed if isinstance(parsed, dict) else {"_": parsed}


def state_from_messages(messages: Sequence[Mapping[str, Any]], *, agent_id: str = "default") -> AgentState:
    """What the router may see, read from an OpenAI message list.

    The goal is the first user message; each assistant tool call is a step whose
    observation is the matching tool result (a plain assistant text followed by a
    user message is a step too, the way shell agents talk). Hive's own memory
    messages are skipped, and so are what cannot be a message or a call (a
    non-dict entry, ``tool_calls`` that is not a list of dicts): the state is
    read, never validated. Nothing after the last message is read.
    """
    goal = ""
    steps: list[Step] = []
    pending: dict[str, int] = {}
    last_text_step: int | None = None
    for msg in messages:
        if not isinstance(msg, Mapping) or is_memory_message(msg):
            continue
        role = msg.get("role")
        if role == "user":
            if not goal:
                goal = message_text(msg)
            elif last_text_step is not None:
                s = steps[last_text_step]
                steps[last_text_step] = Step(s.action, message_text(msg), s.thought)
                last_text_step = None
        elif role == "assistant":
            raw_calls = msg.get("tool_calls")
            calls = [c for c in raw_calls if isinstance(c, Mapping)] if isinstance(raw_calls, list) else []
            thought = msg.get("content") if isinstance(msg.get("content"), str) else None
            if calls:
                for call in calls:
                    fn = call.get("function")
                    name = str(fn.get("name", "")) if isinstance(fn, Mapping) else ""
                    pending[str(call.get("id"))] = len(steps)
                    steps.append(Step(action_of_call(name, call_arguments(call)), "", thought or None))
                last_text_step = None
            elif thought:
                steps.append(Step(thought, "", None))
                last_text_step = len(steps) - 1
        elif role == "tool":
            idx = pending.pop(str(msg.get("tool_call_id")), None)
            if idx is not None:
                s = steps[idx]
                steps[idx] = Step(s.action, message_text(msg), s.thought)
    return AgentState(goal=goal, history=tuple(steps), step_index=len(steps), agent_id=agent_id)


def author_metadata(name: Any) -> dict[str, str]:
    """``{"author": name}`` for a usable message ``name`` (a chat participant), else ``{}``.

    Search ranks a participant's memories higher when a query names them; a
    name memory would refuse (empty, too long, not a string) is left out rather
    than losing the memory.
    """
    if isinstance(name, str) and 0 < len(name.strip()) <= MAX_AUTHOR_CHARS:
        return {"author": name.strip()}
    return {}
