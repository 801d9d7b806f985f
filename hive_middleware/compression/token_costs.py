"""Per-message token counts through ``litellm.token_counter``, cached by content.

``litellm.token_counter(messages=[...])`` adds a fixed 3-token reply priming to
every list, so a list costs ``3 + sum(per-message cost)`` where a message's cost
is ``token_counter(messages=[m]) - 3``. Counting message by message lets the
compressor price each candidate form once and reuse the price on every later
call with the same content (an agent loop re-sends the same messages each turn).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from hive_middleware.tokens import count_message_tokens

__all__ = ["LIST_OVERHEAD", "list_tokens", "message_tokens", "unpriced_parts"]

LIST_OVERHEAD = 3
"""Tokens ``litellm.token_counter`` adds once per message list (reply priming)."""


# Part types litellm's counter prices; others (``input_audio``, new types) make it raise.
_PRICED_PARTS = frozenset(
    {"text", "image_url", "image", "document", "file", "tool_use", "tool_result", "thinking", "redacted_thinking",
     "tool_reference", "search_result"}
)


@lru_cache(maxsize=65_536)
def _cached(role: str, content: str | None, parts: bool, extra: str, model: str) -> int:
    msg: dict[str, Any] = {"role": role, "content": json.loads(content) if parts and content else content}
    if extra:
        msg.update(json.loads(extra))
    try:
        return max(0, count_message_tokens([msg], model) - LIST_OVERHEAD)
    except ValueError:
        if not parts or not isinstance(msg["content"], list):
            raise
    # A part type litellm cannot price (audio, say) is left out of the count; the rest is priced.
    msg["content"] = [p for p in msg["content"] if isinstance(p, dict) and p.get("type") in _PRICED_PARTS]
    return max(0, count_message_tokens([msg], model) - LIST_OVERHEAD)


def unpriced_parts(message: Mapping[str, Any]) -> int:
    """How many content parts of ``message`` litellm cannot price (left out of its token count)."""
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if not (isinstance(p, Mapping) and p.get("type") in _PRICED_PARTS))


# One encoder for every call: json.dumps(..., sort_keys=True) builds a new one each time.
_SORTED = json.JSONEncoder(sort_keys=True)


def message_tokens(message: Mapping[str, Any], model: str) -> int:
    """Tokens ``message`` adds to a list for ``model`` (cached by content)."""
    content = message.get("content")
    role = str(message.get("role"))
    if content is not None and not isinstance(content, str):
        return _cached(role, _SORTED.encode(content), True, _extra(message), model)
    return _cached(role, content, False, _extra(message), model)


def _extra(message: Mapping[str, Any]) -> str:
    if len(message) <= 2 and "content" in message:
        return ""
    fields = {k: v for k, v in message.items() if k not in ("role", "content")}
    return _SORTED.encode(fields) if fields else ""


def list_tokens(costs: list[int]) -> int:
    """Tokens of a whole list from its per-message costs."""
    return LIST_OVERHEAD + sum(costs)
