"""ESCALATE: an optional LLM summary for outputs no rule distils well.

Off unless ``CompressionConfig.summarizer_model`` is set. Each call goes through
litellm with the configured model, a token budget (``max_tokens``) and a
timeout. On *any* failure (provider error, timeout, empty or longer-than-input
answer) the summariser returns ``None`` and the caller keeps the original: an
error message is never used as a summary. Failures are logged and counted in the
compression stats. Successful summaries are cached by content, so one output is
summarised once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from hive_middleware.tokens import load_litellm

__all__ = ["SUMMARY_INSTRUCTIONS", "summarize", "summarize_cached"]

_log = logging.getLogger(__name__)

SUMMARY_INSTRUCTIONS = (
    "You compress tool output for a coding agent. Summarise the output below in as few lines as possible. "
    "Keep verbatim every file path, file:line pointer, symbol name, test id, error message and number the "
    "agent may need later. Do not add advice or commentary."
)
_MAX_INPUT_CHARS = 60_000


def summarize(
    text: str,
    content_type: str,
    *,
    model: str,
    max_tokens: int,
    timeout_s: float,
    completion_kwargs: Mapping[str, Any] | None = None,
) -> str | None:
    """Ask ``model`` for a summary of ``text``; ``None`` on any failure.

    Args:
        text: The output to summarise.
        content_type: Its content type (told to the model).
        model: litellm model name.
        max_tokens: Token budget of the summary.
        timeout_s: Request timeout in seconds.
        completion_kwargs: Extra ``litellm.completion`` arguments (e.g.
            ``mock_response`` in tests, ``api_base``).

    Returns:
        The summary, or ``None`` when the call failed or the answer is empty or
        not shorter than ``text``.
    """
    litellm = load_litellm()
    request = [
        {"role": "system", "content": SUMMARY_INSTRUCTIONS},
        {"role": "user", "content": f"Output type: {content_type}\n\n{text[:_MAX_INPUT_CHARS]}"},
    ]
    try:
        response = litellm.completion(
            model=model,
            messages=request,
            max_tokens=max_tokens,
            timeout=timeout_s,
            temperature=0,
            **dict(completion_kwargs or {}),
        )
        summary = response.choices[0].message.content
    except Exception as exc:  # any provider failure: keep the original (the caller counts it)
        _log.warning("ESCALATE summary with %s failed (%s: %s); original kept", model, type(exc).__name__, exc)
        return None
    if not isinstance(summary, str) or not summary.strip():
        _log.warning("ESCALATE summary with %s was empty; original kept", model)
        return None
    summary = summary.strip()
    if len(summary) >= len(text):
        return None
    return summary


@lru_cache(maxsize=2_048)
def _cached(text: str, content_type: str, model: str, max_tokens: int, timeout_s: float) -> str:
    summary = summarize(text, content_type, model=model, max_tokens=max_tokens, timeout_s=timeout_s)
    if summary is None:
        raise _NoSummary
    return summary


class _NoSummary(Exception):
    """Raised inside the cache so failures are not cached (a later call may succeed)."""


def summarize_cached(text: str, content_type: str, model: str, max_tokens: int, timeout_s: float) -> str | None:
    """:func:`summarize`, cached by content when it succeeds."""
    try:
        return _cached(text, content_type, model, max_tokens, timeout_s)
    except _NoSummary:
        return None
