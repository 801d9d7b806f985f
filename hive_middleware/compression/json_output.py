"""Structured (JSON) tool results: recognised by parsing, distilled as JSON.

An API-style tool answers with a JSON document (often minified on one line).
Its distilled form is JSON again, with every key name and the nesting kept:
long arrays keep their first items plus a count of the rest, long strings keep
their head plus their length, and deep levels are summarised by size. The
agent still sees what fields exist and what the values look like, and gets the
whole document back by handle.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

__all__ = ["distill_json", "parse_json_document"]

_MIN_CHARS = 2
_ARRAY_ITEMS = 3
_STRING_CHARS = 120
_MAX_DEPTH = 6
_MAX_KEYS = 40


@lru_cache(maxsize=4_096)
def _parse(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def parse_json_document(text: str) -> Any | None:
    """The parsed object or array when ``text`` is one JSON document, else ``None`` (cached)."""
    stripped = text.strip()
    if len(stripped) < _MIN_CHARS or stripped[0] not in "{[" or stripped[-1] not in "}]":
        return None
    ok, value = _parse(stripped)
    return value if ok and isinstance(value, dict | list) else None


def _shrink(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        if len(value) > _STRING_CHARS:
            return f"{value[:_STRING_CHARS]}… ({len(value)} chars)"
        return value
    if isinstance(value, list):
        if depth >= _MAX_DEPTH:
            return f"[… {len(value)} items]"
        head = [_shrink(v, depth + 1) for v in value[:_ARRAY_ITEMS]]
        if len(value) > _ARRAY_ITEMS:
            head.append(f"… {len(value) - _ARRAY_ITEMS} more items ({len(value)} in all)")
        return head
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return f"{{… {len(value)} keys}}"
        items = list(value.items())
        out = {str(k): _shrink(v, depth + 1) for k, v in items[:_MAX_KEYS]}
        if len(items) > _MAX_KEYS:
            # Key names are what an agent reuses: the rest keep their names, not their values.
            out.update({str(k): "…" for k, _v in items[_MAX_KEYS:]})
        return out
    return value


@lru_cache(maxsize=4_096)
def distill_json(text: str) -> str | None:
    """A JSON document shortened as JSON: keys and nesting kept, arrays and strings cut with counts.

    Returns:
        The shortened document (compact JSON), or ``None`` when ``text`` is not a
        JSON document or the result would not be shorter.
    """
    value = parse_json_document(text)
    if value is None:
        return None
    out = json.dumps(_shrink(value, 0), ensure_ascii=False, separators=(", ", ": "))
    return out if len(out) < 0.8 * len(text) else None
