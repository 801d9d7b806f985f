"""Content types of messages and tool outputs, decided by fast rules.

Every message gets one :class:`ContentType`. Roles decide the obvious cases
(system prompts, assistant turns); tool outputs are classified by their *content*,
so the same rules work for OpenAI ``tool`` messages and for transcripts where
observations arrive as ``user`` messages (SWE-agent 1.x ``"OBSERVATION:\\n..."``,
SWE-agent 0.x plain text ending in a ``bash-$`` prompt).

The rules only look at a bounded head and tail of the text, use precompiled
patterns and cheap prefix checks first, and exit early, so classification costs
a few microseconds per short message whatever the text length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "OUTPUT_TYPES",
    "ContentType",
    "classify_message",
    "classify_output",
    "observation_body",
]


class ContentType(StrEnum):
    """What a message holds; decides how it may be compressed."""

    SYSTEM = "system"
    USER_INSTRUCTION = "user_instruction"
    ASSISTANT_REASONING = "assistant_reasoning"
    TOOL_CALL = "tool_call"
    FILE_VIEW = "file_view"
    SEARCH_RESULTS = "search_results"
    TEST_OUTPUT = "test_output"
    COMMAND_OUTPUT = "command_output"
    ERROR_TRACEBACK = "error_traceback"
    PATCH_DIFF = "patch_diff"
    OTHER = "other"


OUTPUT_TYPES: frozenset[ContentType] = frozenset(
    {
        ContentType.FILE_VIEW,
        ContentType.SEARCH_RESULTS,
        ContentType.TEST_OUTPUT,
        ContentType.COMMAND_OUTPUT,
        ContentType.ERROR_TRACEBACK,
        ContentType.PATCH_DIFF,
        ContentType.OTHER,
    }
)
"""Types of tool/environment output (the ones compression may distill or drop)."""

# How much of a long text the rules read: classification must not scale with size.
_HEAD = 2_000
_TAIL = 1_500
_SAMPLE_LINES = 30

_OBSERVATION_PREFIX = "OBSERVATION:"
_NO_OUTPUT = "Your command ran successfully and did not produce any output"
# SWE-agent 0.x appends the editor state and a prompt to every observation.
_PROMPT_FOOTER = re.compile(r"\n?\(Open file: [^\n]*\)\n\(Current directory: [^\n]*\)\n?bash-\$\s*$")

_FILE_VIEW_PREFIXES = (
    "Here's the result of running `cat -n`",
    "[File: ",
    "<NOTE>This file is too large",
    "<NOTE>Taking the first",
)
_EDITED_SNIPPET = re.compile(r"^The file \S+ has been edited\. Here's the result of running `cat -n`")
_LISTING_PREFIXES = ("Here's the files and directories", "Found ", "No matches found for", "More than ")
_DIFF_START = re.compile(r"^(?:diff --git |--- a/|--- /dev/null|Index: \S|@@ -\d)", re.M)
_DIFF_CONFIRM = re.compile(r"^\+\+\+ (?:b/|/dev/null)", re.M)
_TEST_MARKERS = re.compile(
    r"=+ test session starts =+|=+ (?:FAILURES|ERRORS|short test summary info) =+"
    r"|^collected \d+ items?|^(?:PASSED|FAILED|ERROR|XFAIL|SKIPPED) [\w/.\-]+::|::\w+ (?:PASSED|FAILED|ERROR)\b"
    r"|=+ .*\d+ (?:passed|failed|errors?)\b.* in [\d.]+s|^Ran \d+ tests? in [\d.]+s"
    r"|^(?:OK|FAILED) \((?:failures|errors|skipped|expected)|Tests run: \d+, Failures: \d+"
    r"|^test_\w+ \(\S+\) \.\.\. (?:ok|FAIL|ERROR)|^\[(?:INFO|ERROR)\] Tests run:",
    re.M,
)
_TRACEBACK_MARKERS = re.compile(
    r"Traceback \(most recent call last\)|^Exception in thread |^\s+at [\w.$<>]+\([\w.]+:\d+\)"
    r"|^Caused by: [\w.$]+(?:Exception|Error)|^thread '[^']*' panicked at|^panic: ",
    re.M,
)
_ERROR_LINE = re.compile(
    r"^\w*(?:Error|Exception)\b|^(?:error|fatal|ERROR|FATAL)\b|: error:|\berror\[E\d+\]|command not found"
    r"|No such file or directory|did not appear verbatim|^Invalid `|^Usage: |cannot be used if|^E\d{3} "
    r"|introduced new syntax error|does not exist\b|^No replacement was performed|Permission denied"
    r"|\bnot found$|syntax error|unexpected EOF",
    re.M,
)
# path:line: text (grep -n -r), line: text (grep -n on one file), or a bare path.
_GREP_LINE = re.compile(
    r"^(?:\.{0,2}/)?[\w@+.\-]+(?:/[\w@+.\-]+)+:(?! line \d)|^[\w@+\-.]+\.\w{1,6}:\d+[:-]|^\d+[:-]"
)
# cat -n style (number, tab) or an abbreviated view; "N:" lines are grep -n hits.
_LINE_NUMBERED = re.compile(r"^\s*\d+(?:\t|\s{1,2}\S| \.\.\.)")
_BARE_PATH = re.compile(r"^(?:\.{0,2}/)?(?:[\w@+.\-]+/)+[\w@+.\-]*$|^[\w@+\-]+\.\w{1,6}$")
# Assistant text that carries an action (SWE-agent markup, fenced command).
_ACTION_MARKUP = re.compile(r"<function=[\w\-]+>|^```[\w-]*\n.*\n```\s*$", re.S | re.M)


def observation_body(text: str) -> str:
    """The tool output inside an observation: without ``OBSERVATION:`` or a prompt footer."""
    if text[:12].upper() == _OBSERVATION_PREFIX:
        text = text[len(_OBSERVATION_PREFIX) :].lstrip("\r\n ")
    if text.endswith("$") or text.endswith("$ "):
        text = _PROMPT_FOOTER.sub("", text)
    return text


def _sample_lines(head: str) -> list[str]:
    lines = head.split("\n", _SAMPLE_LINES)[:_SAMPLE_LINES]
    return [ln.rstrip("\r") for ln in lines if ln.strip()]


def classify_output(text: str) -> ContentType:
    """Classify a tool or environment output by its content.

    Args:
        text: The output (an ``OBSERVATION:`` prefix or 0.x prompt footer is allowed).

    Returns:
        One of :data:`OUTPUT_TYPES`.
    """
    body = observation_body(text)
    stripped = body.lstrip()
    if not stripped:
        return ContentType.OTHER
    if stripped.startswith(_FILE_VIEW_PREFIXES) or _EDITED_SNIPPET.match(stripped):
        return ContentType.FILE_VIEW
    head = stripped[:_HEAD]
    if head.startswith("diff --git") or (_DIFF_START.search(head) and _DIFF_CONFIRM.search(head)):
        return ContentType.PATCH_DIFF
    tail = stripped[-_TAIL:] if len(stripped) > _HEAD else ""
    if _TEST_MARKERS.search(head) or (tail and _TEST_MARKERS.search(tail)):
        return ContentType.TEST_OUTPUT
    if stripped.startswith(_LISTING_PREFIXES):
        return ContentType.SEARCH_RESULTS
    lines = _sample_lines(head)
    n = len(lines)
    traceback = _TRACEBACK_MARKERS.search(head) or (tail and _TRACEBACK_MARKERS.search(tail))
    if traceback:
        return ContentType.ERROR_TRACEBACK
    first = "\n".join(lines[:3])
    if _ERROR_LINE.search(first) or (n <= 12 and _ERROR_LINE.search(head)):
        return ContentType.ERROR_TRACEBACK
    numbered = grep = paths = 0
    for line in lines:
        if _LINE_NUMBERED.match(line):
            numbered += 1
        elif _BARE_PATH.match(line):
            paths += 1
        elif _GREP_LINE.match(line):
            grep += 1
    if n >= 3 and numbered >= 0.8 * n:
        return ContentType.FILE_VIEW
    if n and (grep + paths + numbered) >= 0.7 * n and (grep + paths > 0 or n < 3):
        return ContentType.SEARCH_RESULTS
    return ContentType.COMMAND_OUTPUT


def _looks_like_output(text: str) -> bool:
    """Whether a ``user`` message is really an environment observation."""
    if text[:12].upper() == _OBSERVATION_PREFIX or text.startswith(_NO_OUTPUT):
        return True
    if text.endswith("$") or text.endswith("$ "):
        return _PROMPT_FOOTER.search(text[-400:]) is not None
    return False


def classify_message(message: Mapping[str, Any]) -> ContentType:
    """Classify one OpenAI-format message by role first, then by content.

    Args:
        message: The message dict.

    Returns:
        Its content type. A ``user`` message is an instruction unless its text is
        an observation (``OBSERVATION:`` prefix, shell prompt footer) or starts
        like a file view, diff or traceback.
    """
    role = message.get("role")
    if role in ("system", "developer"):
        return ContentType.SYSTEM
    content = message.get("content")
    text = content if isinstance(content, str) else _parts_text(content)
    if role == "assistant":
        if message.get("tool_calls"):
            return ContentType.TOOL_CALL
        if "<function=" in text or "```" in text:
            return ContentType.TOOL_CALL if _ACTION_MARKUP.search(text) else ContentType.ASSISTANT_REASONING
        return ContentType.ASSISTANT_REASONING
    if role in ("tool", "function"):
        return classify_output(text)
    if role == "user":
        if _looks_like_output(text):
            return classify_output(text)
        kind = classify_output(text) if text[:1] in ("[", "H", "<", "d", "T", "/", "-") else None
        if kind in (ContentType.FILE_VIEW, ContentType.PATCH_DIFF) or (
            kind is ContentType.ERROR_TRACEBACK and text.startswith("Traceback")
        ):
            return kind
        return ContentType.USER_INSTRUCTION
    return ContentType.OTHER


def _parts_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""
