"""Reading a message list as turns: which action produced which output.

Two shapes are understood:

* OpenAI tool calling: an assistant message with ``tool_calls``, answered by
  ``tool`` messages carrying the matching ``tool_call_id``;
* text agents (SWE-agent style): the action is written in the assistant text
  (``<function=bash><parameter=command>...`` markup or a fenced block) and the
  output comes back as the next ``user`` message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from hive_middleware.types import message_text

__all__ = ["action_of_call", "action_of_text", "producing_actions"]

_FUNCTION = re.compile(r"<function=([\w\-]+)>(.*?)(?:</function>|$)", re.S)
_PARAM = re.compile(r"<parameter=([\w\-]+)>(.*?)(?:</parameter>|$)", re.S)
_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n```", re.S | re.M)


@lru_cache(maxsize=8_192)
def action_of_text(text: str) -> str:
    """The action written in an assistant text, normalised to one command line.

    ``<function=NAME>`` markup becomes ``NAME value value ...`` (parameter values
    in order); otherwise the last fenced block; otherwise ``""``.
    """
    calls = list(_FUNCTION.finditer(text))
    if calls:
        m = calls[-1]
        values = [v.strip() for _k, v in _PARAM.findall(m.group(2))]
        return " ".join([m.group(1), *values]).strip()
    blocks = _FENCE.findall(text)
    if blocks:
        return str(blocks[-1]).strip()
    return ""


def action_of_call(call: Mapping[str, Any]) -> str:
    """An OpenAI tool call as one command line: ``name`` + its argument values."""
    fn = call.get("function")
    if not isinstance(fn, Mapping):
        return ""
    name = str(fn.get("name", ""))
    raw = fn.get("arguments", "")
    try:
        args = json.loads(raw) if isinstance(raw, str) and raw else raw
    except ValueError:
        return f"{name} {raw}".strip()
    if isinstance(args, Mapping):
        return " ".join([name, *(str(v) for v in args.values())]).strip()
    return f"{name} {raw}".strip()


def producing_actions(messages: Sequence[Mapping[str, Any]], is_output: Sequence[bool]) -> list[str | None]:
    """For each output message, the action (command line) that produced it.

    Args:
        messages: The message list.
        is_output: Which messages are tool/environment outputs.

    Returns:
        One entry per message: the producing action for outputs, else ``None``.
    """
    calls: dict[str, str] = {}
    last_action = ""
    out: list[str | None] = []
    for msg, output in zip(messages, is_output, strict=True):
        role = msg.get("role")
        if role == "assistant":
            tool_calls = msg.get("tool_calls") or []
            for call in tool_calls:
                if isinstance(call, Mapping) and isinstance(call.get("id"), str):
                    calls[call["id"]] = action_of_call(call)
            legacy = msg.get("function_call")
            if isinstance(legacy, Mapping):
                last_action = action_of_call({"function": legacy})  # answered by a ``function`` message
            elif not tool_calls:
                last_action = action_of_text(message_text(msg))
        if not output:
            out.append(None)
        elif role == "tool":
            out.append(calls.get(str(msg.get("tool_call_id")), ""))
        else:
            out.append(last_action)
    return out
