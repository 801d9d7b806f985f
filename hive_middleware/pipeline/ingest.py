"""What a conversation leaves in memory: one function for the integrations and the evals.

:func:`conversation_items` turns an OpenAI-format message list into the memory
items Hive writes for it. Every integration calls it, and so do the memory
evaluations (``hive eval locomo``, ``hive eval long-horizon``): what is measured
is what users get. Each item has

* a **key** naming tenant, agent and thread (:meth:`Identity.key`) and the item
  within the thread: ``turn/<index>`` for a user turn, ``answer/<index>`` for an
  assistant's text answer, ``call/<id>`` and ``result/<id>`` for a tool call and
  its result (the index is the message's position in the conversation, so a
  conversation re-sent with one more turn writes the same keys again, which the
  store treats as a confirmation, not a new memory);
* its **author** (``metadata["author"]``): the message's ``name`` (a participant of
  a multi-user chat), else the role with the agent's name (``"billing assistant"``);
* its **context** (``metadata["context"]``): the text of the message it answers.
  A tool result answers its call; any other message answers the message before
  it (a user turn the assistant's last reply, an assistant turn the user turn or
  tool result it reacts to). Search embeds and keyword-matches the context beside
  the content, so a reply such as "Sure, I can mail it" is found by what it answers;
* its **cause** (a ``caused_by`` link): a tool call is caused by the turn it
  answers, a result by its call, an answer by the user turn;
* the key of the item before it (:attr:`MemoryItem.follows`, a ``related_to``
  link), which graph expansion follows to bring a strong hit's neighbours.

Hive's own memory message, system and developer messages are not remembered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hive_middleware.memory.records import MAX_AUTHOR_CHARS, MAX_CONTEXT_CHARS
from hive_middleware.pipeline.identity import Identity
from hive_middleware.pipeline.messages import action_of_call, call_arguments, is_memory_message
from hive_middleware.types import message_text

__all__ = ["MEMORY_CONTENT_CHARS", "MemoryItem", "conversation_items"]

MEMORY_CONTENT_CHARS = 4_000
"""Tool outputs and turns are remembered up to this many characters: the whole output
stays reachable through compression handles; memory keeps what is worth searching."""

_SKIPPED_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One memory a conversation leaves (see the module docstring).

    Attributes:
        identity: Tenant, agent and thread it is written for (its namespace).
        key: Its memory key.
        content: The text remembered.
        metadata: ``type`` (turn, answer, tool_call, tool_result), ``thread``,
            ``agent``, ``author``, ``context`` and, for tools, ``tool``.
        cause: Key of the item that caused it (``caused_by``), if any.
        follows: Key of the item before it in the conversation (``related_to``), if any.
        valid_from: When it happened in the world, if known.
    """

    identity: Identity
    key: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    cause: str | None = None
    follows: str | None = None
    valid_from: datetime | None = None


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters]"


def _author(message: Mapping[str, Any], identity: Identity) -> str:
    name = message.get("name")
    role = str(message.get("role"))
    if isinstance(name, str) and name.strip() and role in ("user", "assistant"):
        return name.strip()[:MAX_AUTHOR_CHARS]
    return f"{identity.agent} {'tool' if role == 'function' else role}"[:MAX_AUTHOR_CHARS]


def _call_text(call: Mapping[str, Any]) -> tuple[str, str]:
    fn = call.get("function")
    name = str(fn.get("name", "")) if isinstance(fn, Mapping) else ""
    return name, f"{name} call: {action_of_call(name, call_arguments(call))}"


def conversation_items(
    messages: Sequence[Mapping[str, Any]],
    identity: Identity,
    *,
    start: int = 0,
    valid_from: datetime | None = None,
    context: bool = True,
    local_ids: Sequence[str | None] | None = None,
    link_earlier: bool = True,
) -> list[MemoryItem]:
    """The memory items of ``messages[start:]``, read in the light of the whole conversation.

    Args:
        messages: The conversation, OpenAI format (string or content-part content).
        identity: Tenant, agent and thread the items are written for.
        start: First message to produce items for (earlier ones give context and causes).
        valid_from: World time of these messages, when known (a dated session).
        context: Give each item the text of the message it answers (``metadata["context"]``).
        local_ids: Per message, the id that names it within the thread in turn and
            answer keys (a framework's message id); default (or ``None``): its index.
        link_earlier: Link items to messages before ``start`` (written by an earlier
            call on the same thread); ``False`` links only among the items returned.

    Returns:
        Items in conversation order; empty messages produce none.
    """
    items: list[MemoryItem] = []
    previous_text: str | None = None  # the message an item answers
    previous_key: str | None = None
    last_turn_key: str | None = None  # the latest user turn or tool result: what a call answers
    calls: dict[str, tuple[str, str]] = {}  # call id -> (key, text)
    written_keys: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or is_memory_message(message):
            continue
        role = message.get("role")
        if role in _SKIPPED_ROLES:
            continue
        emit = index >= start
        local: str | int = index
        if local_ids is not None and index < len(local_ids) and local_ids[index]:
            local = str(local_ids[index])
        produced: list[tuple[str, str, str | None, dict[str, Any], str | None]] = []
        if role == "user":
            text = message_text(message)
            key = identity.key("turn", local)
            produced.append((key, text, None, {"type": "turn"}, previous_text))
            last_turn_key = key
            answered = text
        elif role == "assistant":
            tool_calls = message.get("tool_calls") or []
            if isinstance(tool_calls, Sequence) and tool_calls:
                rendered: list[str] = []
                for call in tool_calls:
                    if not isinstance(call, Mapping):
                        continue
                    name, text = _call_text(call)
                    call_id = str(call.get("id") or f"{local}.{len(rendered)}")
                    key = identity.key("call", call_id)
                    calls[call_id] = (key, text)
                    rendered.append(text)
                    produced.append((key, text, last_turn_key, {"type": "tool_call", "tool": name}, previous_text))
                answered = "\n".join(rendered)
            else:
                text = message_text(message)
                key = identity.key("answer", local)
                produced.append((key, text, last_turn_key, {"type": "answer"}, previous_text))
                answered = text
        elif role in ("tool", "function"):
            call_id = str(message.get("tool_call_id") or message.get("name") or index)
            call_key, call_text = calls.get(call_id, (None, None))
            tool = str(message.get("name") or "tool")
            text = f"{tool} result: {message_text(message)}"
            key = identity.key("result", call_id if role == "tool" else local)
            produced.append((key, text, call_key, {"type": "tool_result", "tool": tool},
                             call_text if call_text is not None else previous_text))
            last_turn_key = key
            answered = text
        else:
            continue
        for key, text, cause, extra, answers in produced:
            if not emit or not text.strip():
                continue
            if not link_earlier:
                cause = cause if cause in written_keys else None
            metadata: dict[str, Any] = {
                **extra,
                "thread": identity.thread,
                "agent": identity.agent,
                "author": _author(message, identity),
            }
            if context and answers and answers.strip():
                metadata["context"] = answers[:MAX_CONTEXT_CHARS]
            follows = previous_key if link_earlier or previous_key in written_keys else None
            items.append(MemoryItem(
                identity=identity,
                key=key,
                content=_clip(text, MEMORY_CONTENT_CHARS),
                metadata=metadata,
                cause=cause,
                follows=None if follows == cause else follows,
                valid_from=valid_from,
            ))
            written_keys.add(key)
        previous_text = answered
        written = [key for key, text, *_ in produced if text.strip()]
        if written:
            previous_key = written[-1]
    return items
