"""Token cost of a call before it is made, and after (the usage the provider reported).

The estimate is litellm's ``token_counter`` of the messages plus the completion
budget (``max_tokens``/``max_completion_tokens``). litellm counts a list as the
sum of its messages plus a fixed reply primer, so each message is counted once
and cached; an agent loop that resends a growing history only pays for the new
messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from hive_middleware.tokens import load_litellm

__all__ = ["estimate_call_tokens", "estimate_message_tokens", "reported_tokens"]


@lru_cache(maxsize=64)
def _primer(model: str) -> int:
    return int(load_litellm().token_counter(model=model, messages=[]))


@lru_cache(maxsize=65_536)
def _one_message(model: str, blob: str) -> int:
    return int(load_litellm().token_counter(model=model, messages=[json.loads(blob)])) - _primer(model)


@lru_cache(maxsize=65_536)
def _plain_message(model: str, role: str, content: str, name: str | None) -> int:
    message = (
        {"role": role, "content": content}
        if name is None
        else {"role": role, "content": content, "name": name}
    )
    return int(load_litellm().token_counter(model=model, messages=[message])) - _primer(model)


_PLAIN_KEYS = (frozenset({"role", "content"}), frozenset({"role", "content", "name"}))


def estimate_message_tokens(messages: Sequence[Mapping[str, Any]], model: str) -> int:
    """litellm's token count of ``messages`` for ``model``, memoised per message."""
    total = _primer(model)
    try:
        for message in messages:
            content, role, name = message.get("content"), message.get("role"), message.get("name")
            if (
                isinstance(content, str)
                and isinstance(role, str)
                and (name is None or isinstance(name, str))
                and message.keys() in _PLAIN_KEYS
            ):
                # Plain text turns (most of a history) are keyed without serialising them.
                total += _plain_message(model, role, content, name)
            else:
                total += _one_message(model, json.dumps(message, sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):
        # Not JSON-able (e.g. provider objects in the list): count the whole list uncached.
        return int(load_litellm().token_counter(model=model, messages=list(messages)))
    return total


def estimate_call_tokens(kwargs: Mapping[str, Any], model: str) -> int:
    """Estimated prompt + completion tokens of a ``completion(**kwargs)`` call."""
    messages = kwargs.get("messages") or ()
    prompt = estimate_message_tokens(messages, model) if messages else 0
    budget = kwargs.get("max_completion_tokens") or kwargs.get("max_tokens") or 0
    return prompt + (int(budget) if isinstance(budget, int | float) else 0)


def reported_tokens(response: Any) -> int | None:
    """``usage.total_tokens`` of a litellm/OpenAI response (object or dict), else ``None``."""
    # Attribute first: litellm's ModelResponse is the common case and an ABC check costs more.
    usage = getattr(response, "usage", None)
    if usage is None and isinstance(response, Mapping):
        usage = response.get("usage")
    if usage is None:
        return None
    total = getattr(usage, "total_tokens", None)
    if total is None and isinstance(usage, Mapping):
        total = usage.get("total_tokens")
    return int(total) if isinstance(total, int | float) else None
