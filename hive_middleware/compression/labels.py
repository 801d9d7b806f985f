"""Compression labels: what happened to each message, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hive_middleware.compression.content_types import ContentType

__all__ = ["Label", "MessageLabel"]


class Label(StrEnum):
    """The treatment a message got.

    * ``CORE``: kept verbatim;
    * ``COMPACT``: terminal noise stripped (ANSI codes, redraws, progress bars, repeats);
    * ``DISTILL``: replaced by a type-aware summary of its own lines, plus a handle;
    * ``STALE``: superseded by a newer message; replaced by a stub naming it, plus a handle;
    * ``DROP``: replaced by a stub carrying a handle (and the identifiers it held);
    * ``ESCALATE``: replaced by an LLM summary (only with a summariser configured), plus a handle.
    """

    CORE = "CORE"
    COMPACT = "COMPACT"
    DISTILL = "DISTILL"
    STALE = "STALE"
    DROP = "DROP"
    ESCALATE = "ESCALATE"


@dataclass(frozen=True, slots=True)
class MessageLabel:
    """The outcome for one message of the input list.

    Attributes:
        index: Position in the input (and output) list.
        content_type: What the message holds.
        label: What compression did to it.
        handle: The artifact handle of the original (``None`` when kept).
        tokens_before: Tokens of the original message.
        tokens_after: Tokens of the message in the output.
        superseded_by: For ``STALE``: index of the newer message.
        parts: For a message holding several tool results (Anthropic
            ``tool_result`` blocks), one label per compressed piece, in order;
            the message's own fields are those of its largest changed piece.
    """

    index: int
    content_type: ContentType
    label: Label
    handle: str | None
    tokens_before: int
    tokens_after: int
    superseded_by: int | None = None
    parts: tuple[MessageLabel, ...] = ()
