"""Message shapes at the edge of compression: one text model in, the same shape out.

The compressor works on *units*: OpenAI-format messages whose ``content`` is a
plain string (or ``None``). :func:`explode` turns any accepted message list
into units and :func:`fold` puts the compressed units back into the shape each
message came in. Accepted shapes:

* OpenAI string content (a unit is the message itself, untouched);
* OpenAI content-part lists (``text`` parts are the unit's text, joined with a
  newline; ``image_url``, ``input_audio``, ``file`` and any other non-text part
  pass through untouched);
* Anthropic-style blocks: ``text`` blocks like text parts; an assistant's
  ``tool_use`` blocks become the unit's ``tool_calls`` (so tool results pair with
  them and the tool name is known); a ``tool_result`` block (nested ``content``
  a string or a list of blocks, usually inside a ``user`` message) becomes a
  ``tool`` unit of its own, so a message holding several results gives several
  units;
* tool outputs wrapped in JSON (``{"output": "...", "exit_code": 0}``): the
  wrapped text is the unit's text, the other keys are kept;
* LangChain messages converted with ``convert_to_openai_messages`` (list content),
  ``tool`` messages with ``tool_call_id``, legacy ``function`` messages, ``name``.

**The shape rule.** A string stays a string, a list stays a list, a block keeps
every key but its text. When a unit is kept (CORE) its original content comes
back as it was. When it is compressed, the compressed text goes where the
*first* text part was, the other text parts of that list are removed, and every
non-text part stays, in its order. A JSON-wrapped output is written back as JSON
with the same keys, the wrapped value replaced. Bytes and surrogate-escaped text
are decoded first (:func:`decode_invalid_text`), so they come back as strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "TEXT_PART_TYPES",
    "Unit",
    "decode_invalid_text",
    "explode",
    "fold_content",
    "is_plain",
    "unwrap_json_output",
]

TEXT_PART_TYPES: frozenset[str] = frozenset({"text", "input_text", "output_text"})
"""Content-part types whose ``text`` is compressed (OpenAI chat, Responses API, Anthropic)."""

_TOOL_RESULT = "tool_result"
_TOOL_USE = "tool_use"
_OUTPUT_ROLES = frozenset({"tool", "function"})
# Keys under which tools put their printed output when they answer in JSON.
_OUTPUT_KEYS = ("output", "stdout", "result", "content", "text", "observation", "response", "stderr")
_MAX_WRAPPER_OVERHEAD = 300  # characters of other keys a wrapper may carry beside its output


@dataclass(frozen=True, slots=True)
class _Wrap:
    """How a unit's text sits in the original content (innermost layer first)."""

    json_obj: Mapping[str, Any] | None = None  # the JSON object holding the text
    json_key: str = ""
    json_compact: bool = False  # written without spaces after separators
    parts: tuple[Any, ...] | None = None  # the original list of parts/blocks


@dataclass(frozen=True, slots=True)
class Unit:
    """One compressible piece of an input message.

    Attributes:
        message: The OpenAI-format message the compressor sees (string or ``None``
            content; an Anthropic assistant's ``tool_use`` blocks as ``tool_calls``).
        source: Index of the input message it comes from.
        block: For a piece of an Anthropic content list, the ``(start, end)`` block
            range it stands for; ``None`` when it is the whole message.
        original: The original piece as content (string or list), returned as it
            was when the unit is kept.
        stored: What a handle for this unit gives back: the original string, or the
            text of its text parts.
        wrap: How compressed text is put back (``None``: plain string content).
        non_text_parts: Non-text parts that pass through untouched.
    """

    message: dict[str, Any]
    source: int
    block: tuple[int, int] | None
    original: Any
    stored: str
    wrap: _Wrap | None
    non_text_parts: int = 0

    def content_for(self, text: str | None) -> Any:
        """The unit's content in its original shape, holding ``text``."""
        if self.wrap is None:
            return text
        return _rewrap(self.wrap, text or "")


def is_plain(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every message already is a unit (string or ``None`` content, no tool_use blocks)."""
    for msg in messages:
        content = msg.get("content")
        if content is not None and type(content) is not str:
            return False
        if (
            msg.get("role") in _OUTPUT_ROLES
            and type(content) is str
            and _maybe_json(content)
            and unwrap_json_output(content) is not None
        ):
            return False
    return True


# -- encodings ------------------------------------------------------------------------


def _decode_str(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        # Bytes read with errors="surrogateescape" carry each bad byte as U+DC80..U+DCFF.
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text  # other lone surrogates: not a decoding artefact; validation names them


def _decode_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return _decode_str(value)
    return value


def _decode_parts(parts: list[Any]) -> list[Any]:
    out: list[Any] = []
    changed = False
    for part in parts:
        if isinstance(part, Mapping):
            new = dict(part)
            for key in ("text", "content"):
                if key not in part:
                    continue
                value = part[key]
                fixed = _decode_parts(value) if isinstance(value, list) else _decode_value(value)
                if fixed is not value:
                    new[key] = fixed
            if new != part or any(new[k] is not part[k] for k in new):
                out.append(new)
                changed = True
                continue
        out.append(part)
    return out if changed else parts


def decode_invalid_text(messages: Sequence[Any]) -> Sequence[Any]:
    """Decode bytes and surrogate-escaped text with U+FFFD replacement characters.

    Tools print bytes that are not UTF-8; a wrapper may hand them over as
    ``bytes`` or as text read with ``errors="surrogateescape"``. Both are decoded
    as UTF-8 with replacement. Other lone surrogates are left for validation to
    refuse (they are not a decoding artefact).

    Args:
        messages: The input list (not modified).

    Returns:
        ``messages`` itself when nothing needed decoding, else a new list with
        new dicts where something was decoded.
    """
    if not isinstance(messages, list):
        return messages
    out: list[Any] | None = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            continue
        content = msg.get("content")
        if isinstance(content, list):
            fixed: Any = _decode_parts(content)
        elif isinstance(content, str | bytes | bytearray):
            fixed = _decode_value(content)
        else:
            continue
        if fixed is content:
            continue
        if out is None:
            out = list(messages)
        out[i] = {**msg, "content": fixed}
    return messages if out is None else out


# -- JSON-wrapped tool output -----------------------------------------------------------


@lru_cache(maxsize=4_096)
def unwrap_json_output(text: str) -> tuple[dict[str, Any], str] | None:
    """The printed output inside a JSON tool answer, if the text is one.

    A JSON object whose largest string value sits under an output-like key
    (``output``, ``stdout``, ``result``, ``content``, ...) is a wrapper when the
    rest of it is small (an exit code, some metadata) or smaller than that value:
    ``{"output": "...", "exit_code": 0}``.

    Returns:
        ``(object, key)`` or ``None`` when the text is not such a wrapper.
    """
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] != "{" or stripped[-1] != "}":
        return None
    try:
        obj = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    best = ""
    best_len = -1
    for key in _OUTPUT_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and len(value) > best_len:
            best, best_len = key, len(value)
    if not best:
        return None
    others = len(stripped) - best_len  # the other keys and values (exit code, metadata), about
    if others > _MAX_WRAPPER_OVERHEAD and best_len < others:
        return None  # a structured result that happens to have an output-like field
    return obj, best


def _maybe_json(text: str) -> bool:
    head = text[:1]
    return head == "{" or (head.isspace() and text.lstrip()[:1] == "{")


def _json_wrap(found: tuple[dict[str, Any], str], original: str, parts: tuple[Any, ...] | None) -> _Wrap:
    obj, key = found
    compact = f'"{key}":"' in original
    return _Wrap(json_obj=obj, json_key=key, json_compact=compact, parts=parts)


# -- content parts ---------------------------------------------------------------------


def _is_text_part(part: Any) -> bool:
    return isinstance(part, Mapping) and part.get("type") in TEXT_PART_TYPES and isinstance(part.get("text"), str)


def _parts_text(parts: Sequence[Any]) -> str:
    return "\n".join(p["text"] for p in parts if _is_text_part(p))


def _rebuild_parts(parts: Sequence[Any], text: str) -> list[Any]:
    """The shape rule: compressed text in the first text part; non-text parts kept in order."""
    out: list[Any] = []
    placed = False
    for part in parts:
        if _is_text_part(part):
            if not placed:
                out.append({**part, "text": text})
                placed = True
            continue
        out.append(part)
    if not placed and text:
        out.insert(0, {"type": "text", "text": text})
    return out


def _rewrap(wrap: _Wrap, text: str) -> Any:
    content: Any = text
    if wrap.json_obj is not None:
        obj = dict(wrap.json_obj)
        obj[wrap.json_key] = text
        separators = (",", ":") if wrap.json_compact else (", ", ": ")
        content = json.dumps(obj, ensure_ascii=False, separators=separators)
    if wrap.parts is not None:
        content = _rebuild_parts(wrap.parts, content)
    return content


def _text_unit_of(content: Any, output: bool) -> tuple[str | None, _Wrap | None, str, int]:
    """(text the compressor sees, wrap, what a handle stores, non-text part count) of a content."""
    if content is None:
        return None, None, "", 0
    if isinstance(content, str):
        if output and _maybe_json(content):
            found = unwrap_json_output(content)
            if found is not None:
                return str(found[0][found[1]]), _json_wrap(found, content, None), content, 0
        return content, None, content, 0
    parts = tuple(content) if isinstance(content, list) else ()
    text = _parts_text(parts)
    n_other = sum(1 for p in parts if not _is_text_part(p))
    wrap = _Wrap(parts=parts)
    if output and sum(1 for p in parts if _is_text_part(p)) == 1:
        found = unwrap_json_output(text)
        if found is not None:
            return str(found[0][found[1]]), _json_wrap(found, text, parts), text, n_other
    return text, wrap, text, n_other


# -- explode / fold ---------------------------------------------------------------------


def _tool_calls_of(blocks: Sequence[Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, Mapping) and b.get("type") == _TOOL_USE and isinstance(b.get("id"), str):
            raw = b.get("input", {})
            args = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
            calls.append({"id": b["id"], "type": "function", "function": {"name": str(b.get("name", "")), "arguments": args}})
    return calls


def _has_tool_results(content: list[Any]) -> bool:
    return any(isinstance(b, Mapping) and b.get("type") == _TOOL_RESULT for b in content)


def _message_units(i: int, msg: Mapping[str, Any]) -> list[Unit]:
    role = msg.get("role")
    content = msg.get("content")
    if isinstance(content, list) and _has_tool_results(content):
        return _carrier_units(i, msg, content)
    text, wrap, stored, n_other = _text_unit_of(content, role in _OUTPUT_ROLES)
    virtual = dict(msg)
    virtual["content"] = text
    if role == "assistant" and isinstance(content, list):
        calls = _tool_calls_of(content)
        if calls:
            virtual["tool_calls"] = [*(msg.get("tool_calls") or []), *calls]
    return [Unit(virtual, i, None, content, stored, wrap, n_other)]


def _carrier_units(i: int, msg: Mapping[str, Any], blocks: list[Any]) -> list[Unit]:
    """A message holding Anthropic ``tool_result`` blocks: one unit per result, one per run of other blocks."""
    units: list[Unit] = []
    start = 0

    def flush_group(end: int) -> None:
        if end <= start:
            return
        group = tuple(blocks[start:end])
        text, _wrap, stored, n_other = _text_unit_of(list(group), False)
        virtual = {k: v for k, v in msg.items() if k != "content"}
        virtual["content"] = text
        units.append(Unit(virtual, i, (start, end), list(group), stored, _Wrap(parts=group), n_other))

    for k, block in enumerate(blocks):
        if not (isinstance(block, Mapping) and block.get("type") == _TOOL_RESULT):
            continue
        flush_group(k)
        start = k + 1
        inner = block.get("content")
        text, wrap, stored, n_other = _text_unit_of(inner if inner is not None else "", True)
        virtual: dict[str, Any] = {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}
        if wrap is None:
            wrap = _Wrap()  # rebuilt as a plain string, inside the block
        units.append(Unit(virtual, i, (k, k + 1), inner, stored, wrap, n_other))
    flush_group(len(blocks))
    return units


def explode(messages: Sequence[Mapping[str, Any]]) -> list[Unit]:
    """The units of a (validated) message list, in order.

    Args:
        messages: The input list.

    Returns:
        One unit per message, or several for a message holding Anthropic
        ``tool_result`` blocks (see the module doc).
    """
    units: list[Unit] = []
    for i, msg in enumerate(messages):
        units.extend(_message_units(i, msg))
    return units


def fold_content(original: Mapping[str, Any], units: Sequence[Unit], texts: Sequence[str | None], kept: Sequence[bool]) -> Any:
    """The content of one input message rebuilt from its units' compressed texts.

    Args:
        original: The input message.
        units: Its units, in order.
        texts: Each unit's compressed text.
        kept: Whether each unit was kept as it was (its original piece comes back).

    Returns:
        The new content, in the input's shape.
    """
    if len(units) == 1 and units[0].block is None:
        unit = units[0]
        return unit.original if kept[0] else unit.content_for(texts[0])
    blocks = original.get("content")
    assert isinstance(blocks, list)
    out: list[Any] = []
    for unit, text, same in zip(units, texts, kept, strict=True):
        assert unit.block is not None
        start, end = unit.block
        if same:
            out.extend(blocks[start:end])
        elif unit.message.get("role") == "tool":
            block = blocks[start]
            out.append({**block, "content": unit.content_for(text)})
        else:
            out.extend(unit.content_for(text))
    return out
