"""The baselines of ``hive eval compress``: what agent frameworks do without Hive.

* ``raw``: the message list unchanged.
* ``last_5_masking``: SWE-agent's ``LastNObservations`` processor. Every
  observation message (a ``user`` or ``tool`` message after the first
  ``assistant`` message) except the last 5 is replaced by
  ``"Old environment output: (N lines omitted)"``, N the line count of the
  original text.
* ``keep_3_clearing``: the tool-result clearing of the common agent-framework
  context editing (Anthropic's ``clear_tool_uses_20250919``, LangChain's
  ``ClearToolUsesEdit``) at its default ``keep=3``. The 3 most recent *tool
  results* stay verbatim; every older one has its content replaced by
  :data:`CLEARED_PLACEHOLDER`; everything else (system prompt, user turns,
  assistant messages and their tool calls) is untouched. Tool results are the
  ``tool`` messages when the list has any; otherwise (SWE-agent transcripts,
  whose observations come back as ``user`` messages) the observation messages
  as defined for ``last_5_masking``. Those frameworks clear only once the
  input passes a trigger (100 000 tokens by default); the baseline clears at
  every step, so it is measured at its most compressive.

A replaced message keeps its role and ids, and its content keeps its shape: a
content-part list becomes a one-part list holding the stub.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hive_middleware.types import Message, message_text

__all__ = [
    "BASELINES",
    "CLEARED_PLACEHOLDER",
    "KEEP_TOOL_RESULTS",
    "LAST_N_OBSERVATIONS",
    "CompressionMethod",
    "clear_old_tool_results",
    "keep_3_clearing",
    "last_5_masking",
    "mask_old_observations",
    "observation_indices",
    "raw",
    "tool_result_indices",
]

CompressionMethod = Callable[[list[Message]], list[Message]]
"""Takes the message list of one step, returns the list the model would get."""

LAST_N_OBSERVATIONS = 5
KEEP_TOOL_RESULTS = 3
CLEARED_PLACEHOLDER = "[tool result cleared]"
"""What ``keep_3_clearing`` leaves of an old tool result."""


def raw(messages: list[Message]) -> list[Message]:
    """The ``raw`` baseline: the message list unchanged."""
    return messages


def observation_indices(messages: Sequence[Message]) -> list[int]:
    """Indices of the observation messages: ``user``/``tool`` messages after the first ``assistant``."""
    first_assistant = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
    return [
        i for i in range(first_assistant + 1, len(messages)) if messages[i].get("role") in ("user", "tool")
    ]


def tool_result_indices(messages: Sequence[Message]) -> list[int]:
    """Indices of the tool results: ``tool`` messages, or the observation messages when there are none."""
    tools = [i for i, m in enumerate(messages) if m.get("role") == "tool"]
    return tools if tools else observation_indices(messages)


def _replace_content(
    messages: list[Message], indices: set[int], stub: Callable[[Message], str]
) -> list[Message]:
    out: list[Message] = []
    for i, msg in enumerate(messages):
        if i not in indices:
            out.append(msg)
            continue
        text = stub(msg)
        replaced = Message(**{k: v for k, v in msg.items() if k != "content"})  # type: ignore[typeddict-item]
        replaced["content"] = (
            [{"type": "text", "text": text}] if isinstance(msg.get("content"), list) else text
        )
        out.append(replaced)
    return out


def mask_old_observations(messages: list[Message], keep: int = LAST_N_OBSERVATIONS) -> list[Message]:
    """Replace every observation but the last ``keep`` with a one-line stub.

    Args:
        messages: One step's message list (not modified).
        keep: How many of the latest observations stay verbatim.

    Returns:
        A new list (see the module docstring).
    """
    observations = observation_indices(messages)
    masked = set(observations[: max(0, len(observations) - keep)])
    return _replace_content(
        messages,
        masked,
        lambda m: f"Old environment output: ({len(message_text(m).splitlines())} lines omitted)",
    )


def last_5_masking(messages: list[Message]) -> list[Message]:
    """The ``last_5_masking`` baseline (:func:`mask_old_observations` with ``keep=5``)."""
    return mask_old_observations(messages, LAST_N_OBSERVATIONS)


def clear_old_tool_results(
    messages: list[Message], keep: int = KEEP_TOOL_RESULTS, placeholder: str = CLEARED_PLACEHOLDER
) -> list[Message]:
    """Replace the content of every tool result but the last ``keep`` with ``placeholder``.

    Args:
        messages: One step's message list (not modified).
        keep: How many of the latest tool results stay verbatim.
        placeholder: The text that replaces an older tool result.

    Returns:
        A new list (see the module docstring for what a tool result is).
    """
    results = tool_result_indices(messages)
    cleared = set(results[: max(0, len(results) - keep)])
    return _replace_content(messages, cleared, lambda _m: placeholder)


def keep_3_clearing(messages: list[Message]) -> list[Message]:
    """The ``keep_3_clearing`` baseline (:func:`clear_old_tool_results` with ``keep=3``)."""
    return clear_old_tool_results(messages, KEEP_TOOL_RESULTS)


BASELINES: dict[str, CompressionMethod] = {
    "last_5_masking": last_5_masking,
    "keep_3_clearing": keep_3_clearing,
    "raw": raw,
}
"""The baselines every compression report carries, by name."""
