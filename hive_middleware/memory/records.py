"""Building and checking memory records at the API boundary.

Everything a caller passes is validated here, before any I/O, and refused with a
:class:`~hive_middleware.errors.HiveError` that names the field and the fix.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hive_middleware.errors import HiveTenantError, HiveValidationError
from hive_middleware.types import MemoryKind

__all__ = [
    "EMBEDDED_CONTEXT_CHARS",
    "MAX_KEY_CHARS",
    "MAX_NAMESPACE_DEPTH",
    "MAX_NAMESPACE_PART",
    "check_aware",
    "check_confidence",
    "check_content",
    "check_key",
    "check_kind",
    "check_kinds",
    "check_metadata",
    "check_namespace",
    "check_tags",
    "check_weights",
    "context_text",
    "embedding_text",
    "namespace_agent",
    "namespace_has_prefix",
    "new_record_id",
]

MAX_NAMESPACE_DEPTH = 8
MAX_NAMESPACE_PART = 128
MAX_KEY_CHARS = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_record_id() -> str:
    """A fresh, globally unique record id that sorts roughly by creation time.

    48 bits of wall-clock milliseconds then 80 random bits, as 32 hex digits
    (the layout of a UUIDv7 without its version bits).
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def check_namespace(namespace: object) -> tuple[str, ...]:
    """Validate a namespace: a non-empty tuple of short strings, tenant first.

    Raises:
        HiveTenantError: not a tuple/list of strings, empty, too deep, or a part
            that is empty, too long or has control characters.
    """
    if isinstance(namespace, str) or not isinstance(namespace, Sequence):
        raise HiveTenantError(
            f"namespace must be a tuple of strings with the tenant first, e.g. ('acme', 'agent-1'); "
            f"got {type(namespace).__name__}",
            namespace=namespace,
        )
    parts = tuple(namespace)
    if not parts:
        raise HiveTenantError("namespace is empty; its first element must name the tenant", namespace=parts)
    if len(parts) > MAX_NAMESPACE_DEPTH:
        raise HiveTenantError(
            f"namespace has {len(parts)} parts, more than {MAX_NAMESPACE_DEPTH}", namespace=parts
        )
    for i, part in enumerate(parts):
        if not isinstance(part, str) or not part.strip():
            raise HiveTenantError(
                f"namespace[{i}] must be a non-empty string, got {part!r}", namespace=parts, index=i
            )
        if len(part) > MAX_NAMESPACE_PART or _CONTROL.search(part):
            raise HiveTenantError(
                f"namespace[{i}] must be at most {MAX_NAMESPACE_PART} printable characters, got {part!r}",
                namespace=parts,
                index=i,
            )
    return parts


def namespace_has_prefix(namespace: Sequence[str], prefix: Sequence[str]) -> bool:
    """Whether ``namespace`` equals ``prefix`` or lies under it."""
    return len(namespace) >= len(prefix) and tuple(namespace[: len(prefix)]) == tuple(prefix)


def namespace_agent(namespace: Sequence[str]) -> str | None:
    """The agent a namespace belongs to: its second element (``(tenant, agent, thread)``), or
    ``None`` for a namespace that names only the tenant."""
    return namespace[1] if len(namespace) > 1 else None


def check_content(content: object, max_chars: int) -> str:
    """Validate memory content: a non-blank string of at most ``max_chars``.

    Raises:
        HiveValidationError: not a string, blank, too long or not valid UTF-8.
    """
    if not isinstance(content, str):
        raise HiveValidationError(f"content must be a string, got {type(content).__name__}", field="content")
    if not content.strip():
        raise HiveValidationError("content is empty; remember() needs some text", field="content")
    if len(content) > max_chars:
        raise HiveValidationError(
            f"content is {len(content)} characters, over memory.max_content_chars={max_chars}; "
            "split it or raise the limit",
            field="content",
            size=len(content),
            limit=max_chars,
        )
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise HiveValidationError(
            f"content is not valid UTF-8 ({exc.reason} at {exc.start})", field="content"
        ) from exc
    return content


def check_key(key: object) -> str:
    """Validate a memory key: a non-blank string of at most 512 characters."""
    if not isinstance(key, str) or not key.strip():
        raise HiveValidationError(f"key must be a non-empty string, got {key!r}", field="key")
    if len(key) > MAX_KEY_CHARS:
        raise HiveValidationError(
            f"key is {len(key)} characters, over {MAX_KEY_CHARS}", field="key", key=key[:64]
        )
    return key


def check_kind(kind: object) -> MemoryKind:
    """Accept a :class:`MemoryKind` or its string value."""
    if isinstance(kind, MemoryKind):
        return kind
    try:
        return MemoryKind(str(kind))
    except ValueError as exc:
        allowed = ", ".join(k.value for k in MemoryKind)
        raise HiveValidationError(
            f"unknown memory kind {kind!r}; use one of {allowed}", field="kind"
        ) from exc


def check_aware(moment: object, field_name: str) -> datetime | None:
    """Accept ``None`` or an aware datetime.

    Raises:
        HiveValidationError: a naive datetime or a non-datetime.
    """
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise HiveValidationError(
            f"{field_name} must be an aware datetime, got {type(moment).__name__}", field=field_name
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise HiveValidationError(
            f"{field_name}={moment.isoformat()} is naive; pass an aware datetime (e.g. tzinfo=UTC)",
            field=field_name,
        )
    return moment


def check_kinds(kinds: object) -> list[MemoryKind]:
    """Accept an iterable of kinds (:class:`MemoryKind` or their string values), not one string."""
    if isinstance(kinds, str | MemoryKind):
        raise HiveValidationError(
            f"kinds must be a list of kinds such as ['episodic'], not one kind ({kinds!r})", field="kinds"
        )
    if isinstance(kinds, Mapping) or not isinstance(kinds, Iterable):
        raise HiveValidationError(
            f"kinds must be a list of kinds such as ['episodic'], got {type(kinds).__name__}", field="kinds"
        )
    return [check_kind(kind) for kind in kinds]


def check_confidence(confidence: object) -> float:
    """Accept a finite number in [0, 1]."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise HiveValidationError(f"confidence must be a number, got {confidence!r}", field="confidence")
    value = float(confidence)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise HiveValidationError(f"confidence must be in [0, 1], got {confidence!r}", field="confidence")
    return value


def check_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """Accept an iterable of non-empty strings (not a bare string); keeps order, drops repeats."""
    if isinstance(tags, str):
        raise HiveValidationError("tags must be a list of strings, not one string", field="tags")
    if isinstance(tags, Mapping) or not isinstance(tags, Iterable):
        raise HiveValidationError(
            f"tags must be a list of strings such as ['deploy'], got {type(tags).__name__}", field="tags"
        )
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or _CONTROL.search(tag):
            raise HiveValidationError(
                f"every tag must be a printable non-empty string, got {tag!r}", field="tags"
            )
        if tag not in out:
            out.append(tag)
    return tuple(out)


MAX_AUTHOR_CHARS = 200
MAX_CONTEXT_CHARS = 2000
KEYWORD_CONTEXT_WEIGHT = 0.4
"""BM25 weight of a keyword match in ``metadata["context"]`` relative to one in the content.

Graph stores index the context beside the content (the vector signal embeds both),
so a reply such as "Sure, I can mail it" is also found by the words of what it
answers, but a match in the memory's own words counts more."""
SEARCH_SIGNALS = ("vector", "bm25", "graph", "recency", "author", "date")
"""Signals whose weight one search can override (``MemoryStore.search(weights=...)``)."""


def check_weights(weights: object) -> dict[str, float]:
    """Accept a mapping of search signal -> weight (a number >= 0); return it with float weights."""
    if not isinstance(weights, Mapping):
        raise HiveValidationError(
            f"weights must be a dict of signal -> weight, got {type(weights).__name__}", field="weights"
        )
    out: dict[str, float] = {}
    for signal, weight in weights.items():
        if signal not in SEARCH_SIGNALS:
            raise HiveValidationError(
                f"unknown search signal {signal!r} in weights; use one of {', '.join(SEARCH_SIGNALS)}",
                field="weights",
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise HiveValidationError(f"weight of {signal!r} must be a number >= 0, got {weight!r}", field="weights")
        out[signal] = float(weight)
    return out


EMBEDDED_CONTEXT_CHARS = 500
"""How much of ``metadata["context"]`` is embedded beside the content (keyword search reads all of it)."""


def embedding_text(content: str, metadata: Mapping[str, Any]) -> str:
    """What the embedding worker embeds for a record: its content, then the first
    :data:`EMBEDDED_CONTEXT_CHARS` characters of its ``metadata["context"]`` on
    the next line when it has one.

    The content comes first so a long context is what an embedder's input
    limit truncates; the context is cut before that, because a long context
    (a tool output a turn answers) would make every such record cost a full
    input window to embed. Graph stores that build this text in their own
    query language must produce exactly this string.
    """
    context = context_text(metadata)[:EMBEDDED_CONTEXT_CHARS]
    return f"{content}\n{context}" if context else content


def context_text(metadata: Mapping[str, Any]) -> str:
    """A record's ``metadata["context"]`` as text ("" when it has none); the keyword index's second field."""
    context = metadata.get("context")
    return context if isinstance(context, str) else ""


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Accept ``None`` or a JSON-serialisable mapping with string keys.

    ``metadata["author"]``, when present, names who said or wrote the memory (a
    person, an agent): a non-empty string of at most 200 characters. Search
    ranks a record higher when the query names its author.

    ``metadata["context"]``, when present, is text that situates the memory
    (the turn it answers, the command that printed it): a string of at most
    2 000 characters, embedded with the content (see :func:`embedding_text`)
    and keyword-matched as a second field (:data:`KEYWORD_CONTEXT_WEIGHT`), but
    never shown as content.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise HiveValidationError(f"metadata must be a dict, got {type(metadata).__name__}", field="metadata")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise HiveValidationError(f"metadata must be JSON-serialisable: {exc}", field="metadata") from exc
    if not all(isinstance(k, str) for k in metadata):
        raise HiveValidationError("metadata keys must be strings", field="metadata")
    author = metadata.get("author")
    if author is not None and not (
        isinstance(author, str) and author.strip() and len(author) <= MAX_AUTHOR_CHARS
    ):
        raise HiveValidationError(
            f"metadata['author'] must be a non-empty name of at most {MAX_AUTHOR_CHARS} characters, got {author!r}",
            field="metadata.author",
        )
    context = metadata.get("context")
    if context is not None and not (isinstance(context, str) and len(context) <= MAX_CONTEXT_CHARS):
        raise HiveValidationError(
            f"metadata['context'] must be a string of at most {MAX_CONTEXT_CHARS} characters, "
            f"got {type(context).__name__} of length {len(context) if isinstance(context, str) else 'n/a'}",
            field="metadata.context",
        )
    return dict(metadata)
