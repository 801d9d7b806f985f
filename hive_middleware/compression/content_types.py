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

from hive_middleware.compression.compactors import skip_progress_lines
from hive_middleware.compression.json_output import parse_json_document
from hive_middleware.compression.tool_vocab import ToolKind, tool_kind

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
    JSON_DATA = "json_data"
    OTHER = "other"


OUTPUT_TYPES: frozenset[ContentType] = frozenset(
    {
        ContentType.FILE_VIEW,
        ContentType.SEARCH_RESULTS,
        ContentType.TEST_OUTPUT,
        ContentType.COMMAND_OUTPUT,
        ContentType.ERROR_TRACEBACK,
        ContentType.PATCH_DIFF,
        ContentType.JSON_DATA,
        ContentType.OTHER,
    }
)
"""Types of tool/environment output (the ones compression may distill or drop)."""

# How much of a long text the rules read: classification must not scale with size.
_HEAD = 2_000
_TAIL = 1_500
_SAMPLE_LINES = 30

_OBSERVATION_PREFIX = "OBSERVATION:"
# SWE-agent 0.x appends the editor state and a prompt to every observation.
_PROMPT_FOOTER = re.compile(r"\n?\(Open file: [^\n]*\)\n\(Current directory: [^\n]*\)\n?bash-\$\s*$")

_FILE_VIEW_PREFIXES = (
    "Here's the result of running `cat -n`",
    "[File: ",
    "<NOTE>This file is too large",
    "<NOTE>Taking the first",
)
_EDITED_SNIPPET = re.compile(r"^The file \S+ has been (?:edited|updated)\.(?: Here's the result of running `cat -n`)?")
_LISTING_PREFIXES = (
    "Here's the files and directories", "Found ", "No matches found for", "More than ", "No files found",
)
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
_LINE_NUMBERED = re.compile(r"^\s*\d+(?:\t|→|\s{1,2}\S| \.\.\.)")
_BARE_PATH = re.compile(r"^(?:\.{0,2}/)?(?:[\w@+.\-]+/)+[\w@+.\-]*$|^[\w@+\-]+\.\w{1,6}$")
_FUNCTION_MARKUP = re.compile(r"<function=[\w\-]+>")
_FOOTER_HINT = "(Current directory: "
_OUTPUT_STARTS = (
    "OBSERVATION:", "Observation:", "observation:",
    "Your command ran successfully and did not produce any output",
)
_USER_OUTPUT_STARTS = (
    "Here's the result of running `cat -n`", "[File: ", "<NOTE>This file is too large", "<NOTE>Taking the first",
    "diff --git", "Traceback (most recent call last)",
)
# Literal hints that must be present before the slower patterns above are run.
_DIFF_HINTS = ("\n+++ ", "+++ b/", "+++ /dev/null")
_TEST_HINTS = (
    "test session starts", "passed", "failed", "PASSED", "FAILED", "Ran ", "Tests run:", "collected ",
    " ... ok", " ... FAIL", " ... ERROR", "OK (", "FAILED (", "ERROR ", "XFAIL", "SKIPPED",
)
_TRACEBACK_HINTS = (
    "Traceback (most recent call last)", "Exception in thread", "\tat ", "    at ", "Caused by: ", "panicked at", "panic: "
)
_ERROR_HINTS = (
    "rror", "xception", "fatal", "FATAL", "command not found", "No such file", "did not appear verbatim",
    "Invalid `", "Usage: ", "cannot be used if", "syntax error", "does not exist", "No replacement",
    "Permission denied", "not found", "unexpected EOF", "E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9",
)


def observation_body(text: str) -> str:
    """The tool output inside an observation: without ``OBSERVATION:`` or a prompt footer."""
    if text.startswith(_OUTPUT_STARTS[:3]):
        text = text[len(_OBSERVATION_PREFIX) :].lstrip("\r\n ")
    if text.endswith(("$", "$ ")) and _FOOTER_HINT in text[-400:]:
        text = _PROMPT_FOOTER.sub("", text)
    return text


def _sample_lines(head: str) -> list[str]:
    lines = head.split("\n", _SAMPLE_LINES)[:_SAMPLE_LINES]
    return [ln.rstrip("\r") for ln in lines if ln.strip()]


def _any_in(text: str, literals: tuple[str, ...]) -> bool:
    # Substring tests run in C and skip most texts before any regex has to scan them.
    return any(lit in text for lit in literals)


def _is_diff(head: str) -> bool:
    if head.startswith("diff --git"):
        return True
    return _any_in(head, _DIFF_HINTS) and _DIFF_START.search(head) is not None and _DIFF_CONFIRM.search(head) is not None


def _is_test(text: str) -> bool:
    return bool(text) and _any_in(text, _TEST_HINTS) and _TEST_MARKERS.search(text) is not None


def _is_traceback(text: str) -> bool:
    if not text or not _any_in(text, _TRACEBACK_HINTS):
        return False
    return "Traceback (most recent call last)" in text or _TRACEBACK_MARKERS.search(text) is not None


def _has_error_line(text: str) -> bool:
    return _any_in(text, _ERROR_HINTS) and _ERROR_LINE.search(text) is not None


_SETTLED = frozenset({ContentType.ERROR_TRACEBACK, ContentType.TEST_OUTPUT, ContentType.PATCH_DIFF, ContentType.JSON_DATA})
_BY_KIND: dict[ToolKind, ContentType] = {
    ToolKind.READ: ContentType.FILE_VIEW,
    ToolKind.SEARCH: ContentType.SEARCH_RESULTS,
    ToolKind.BROWSER: ContentType.OTHER,
}


def classify_output(text: str, tool: str | None = None) -> ContentType:
    """Classify a tool or environment output by its content, then by its tool's name.

    What the text prints decides; the tool's name (see :mod:`.tool_vocab`) only
    settles outputs the text leaves open: a read tool's plain file content is a
    file view, a search tool's bare listing is search results, a browser's page
    is ``OTHER``. Errors, tracebacks, tests, diffs and JSON stay what they are.

    Args:
        text: The output (an ``OBSERVATION:`` prefix or 0.x prompt footer is
            allowed; leading progress-bar lines are skipped).
        tool: The name of the tool that printed it, when known.

    Returns:
        One of :data:`OUTPUT_TYPES`.
    """
    by_content = _classify_text(text)
    kind = tool_kind(tool)
    if kind is ToolKind.UNKNOWN or by_content in _SETTLED:
        return by_content
    hinted = _BY_KIND.get(kind)
    if hinted is None or by_content is ContentType.FILE_VIEW:
        return by_content
    if kind is ToolKind.SEARCH and by_content is ContentType.SEARCH_RESULTS:
        return by_content
    return hinted


def _classify_text(text: str) -> ContentType:
    body = observation_body(text)
    stripped = body.lstrip()
    if stripped and (stripped[0] in "%[" or "%" in stripped[:200]):
        stripped = skip_progress_lines(stripped).lstrip()
    if not stripped:
        return ContentType.OTHER
    if stripped.startswith(_FILE_VIEW_PREFIXES) or (
        stripped.startswith("The file ") and _EDITED_SNIPPET.match(stripped) is not None
    ):
        return ContentType.FILE_VIEW
    if stripped[0] in "{[" and parse_json_document(stripped) is not None:
        return ContentType.JSON_DATA
    head = stripped[:_HEAD]
    if _is_diff(head):
        return ContentType.PATCH_DIFF
    tail = stripped[-_TAIL:] if len(stripped) > _HEAD else ""
    if _is_test(head) or _is_test(tail):
        return ContentType.TEST_OUTPUT
    if stripped.startswith(_LISTING_PREFIXES):
        return ContentType.SEARCH_RESULTS
    if _is_traceback(head) or _is_traceback(tail):
        return ContentType.ERROR_TRACEBACK
    lines = _sample_lines(head)
    n = len(lines)
    if _has_error_line("\n".join(lines[:3])) or (n <= 12 and _has_error_line(head)):
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
    if text.startswith(_OUTPUT_STARTS):
        return True
    if text.endswith(("$", "$ ")) and _FOOTER_HINT in text[-400:]:
        return _PROMPT_FOOTER.search(text[-400:]) is not None
    return False


def _is_action(text: str) -> bool:
    """Assistant text that carries an action: SWE-agent markup or a closing fenced command."""
    if "<function=" in text:
        return _FUNCTION_MARKUP.search(text) is not None
    return text.rstrip().endswith("```") and text.count("```") >= 2


def classify_message(message: Mapping[str, Any], tool: str | None = None) -> ContentType:
    """Classify one OpenAI-format message by role first, then by content.

    Args:
        message: The message dict.
        tool: For a tool output, the name of the tool that printed it (its
            ``name`` field is used when this is not given).

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
        return ContentType.TOOL_CALL if _is_action(text) else ContentType.ASSISTANT_REASONING
    if role in ("tool", "function"):
        name = message.get("name")
        return classify_output(text, tool if tool is not None else name if isinstance(name, str) else None)
    if role == "user":
        if _looks_like_output(text):
            return classify_output(text)
        if text.startswith(_USER_OUTPUT_STARTS):
            # Pasted output: a file view, a diff or a traceback.
            if text.startswith(_FILE_VIEW_PREFIXES):
                return ContentType.FILE_VIEW
            return ContentType.PATCH_DIFF if text.startswith("diff --git") else ContentType.ERROR_TRACEBACK
        return ContentType.USER_INSTRUCTION
    return ContentType.OTHER


def _parts_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""
