"""DISTILL: type-aware summaries of tool outputs that keep what an agent reuses.

* test output -> the counts line(s), failing test ids, error lines and the first
  and last frame of each traceback;
* search results -> deduplicated ``path:line`` pointers with the matched text trimmed;
* command/log output -> head, tail and the lines that carry errors or warnings;
* error/traceback -> the error lines and the first and last frames of each traceback;
* file view -> the viewed path and range plus its definition lines
  (``def``/``class``/method signatures with their line numbers);
* patch/diff -> the files, hunk headers and a trimmed sample of changed lines;
* JSON document -> the same JSON with its keys, arrays and strings cut with counts
  (:mod:`.json_output`).

Each distiller is a pure function of the text (cached by content), returns
``None`` when it would not save anything, and never invents text: every line
it emits is a line of the original, trimmed, or a count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from hive_middleware.compression.content_types import ContentType
from hive_middleware.compression.json_output import distill_json

__all__ = [
    "distill",
    "distill_assistant_turn",
    "distill_command_output",
    "distill_error",
    "distill_file_view",
    "distill_patch",
    "distill_search_results",
    "distill_test_output",
]

_MAX_LINE = 160
_SEARCH_TEXT = 60
_MAX_POINTERS = 20
_HEAD_LINES = 8
_TAIL_LINES = 8
_MAX_SIGNAL_LINES = 30
_MAX_DEFINITIONS = 15

_TEST_COUNTS = re.compile(
    r"^=+ .*\b\d+ (?:passed|failed|errors?|skipped|xfailed|deselected)\b.*=+\s*$|^Ran \d+ tests? in|^(?:OK|FAILED)(?: \(.*\))?\s*$"
    r"|Tests run: \d+, Failures: \d+|^collected \d+ items?|^(?:BUILD (?:SUCCESS|FAILURE)|\[INFO\] BUILD|\[ERROR\] BUILD)"
    r"|^\d+ (?:passed|failed)\b"
)
_TEST_FAIL_ID = re.compile(
    r"^(?:FAILED|ERROR) \S+|^\S+::\S+ (?:FAILED|ERROR)\b|^(?:FAIL|ERROR): \w+ \(|\.\.\. (?:FAIL|ERROR)\s*$"
    r"|^\[ERROR\] +\w+\(|^\[ERROR\] Tests run:.*FAILURE|^\[ERROR\] Failures:|<<< (?:FAILURE|ERROR)!"
)
_ERROR = re.compile(
    r"^E {2,}\S|^\s*\w*(?:Error|Exception|Failure)\b[:(]|^\s*\w+(?:\.\w+)+(?:Error|Exception)\b|: error:|\berror\[E\d+\]"
    r"|^(?:error|fatal|FATAL|ERROR)\b|\bassert(?:ion)?\b.*(?:==|!=| is | in )|command not found|No such file or directory"
    r"|^(?:[a-z_]\w*\.)+[A-Z]\w*: \S|Segmentation fault|\bpanicked at\b"
)
_WARN = re.compile(r"\b(?:[Ww]arning|WARN(?:ING)?|[Dd]eprecat\w*)\b")
_PY_FRAME = re.compile(r'^\s*File "[^"]+", line \d+')
_PYTEST_FRAME = re.compile(r"^[\w/.\-]+\.py:\d+: (?:in \w+|\w+)")
_JAVA_FRAME = re.compile(r"^\s+at [\w.$<>]+\([\w.]*(?::\d+)?\)")
_TRACEBACK_START = re.compile(r"^Traceback \(most recent call last\)|^Exception in thread |^Caused by: ")
_GREP = re.compile(r"^(?P<path>(?:\.{0,2}/)?[\w@+.\-]+(?:/[\w@+.\-]+)*)[:-](?P<line>\d+)[:-](?P<text>.*)$")
_GREP_NOLINE = re.compile(r"^(?P<path>(?:\.{0,2}/)?[\w@+.\-]+(?:/[\w@+.\-]+)+):(?P<text>.*)$")
_LINE_ONLY = re.compile(r"^(?:Line )?(?P<line>\d+)[:-](?P<text>.*)$")
_VIEW_HEADER = re.compile(
    r"^(?:Here's the result of running `cat -n` on (?:a snippet of )?(?P<p1>\S+?):?$"
    r"|The file (?P<p2>\S+) has been (?:edited|updated)\..*|\[File: (?P<p3>\S+) \((?P<total>\d+) lines total\)\])"
)
_NUMBERED = re.compile(r"^\s*(?P<n>\d+)(?:\t|:|→| )(?P<code>.*)$")
_DEFINITION = re.compile(
    r"^\s*(?:(?:async\s+)?def |class |function |func |fn |(?:pub(?:\(\w+\))?\s+)?(?:struct|enum|trait|impl|interface) "
    r"|(?:export\s+)?(?:default\s+)?(?:async\s+)?function\b|(?:public|private|protected|static|final|abstract|synchronized|override|internal)\s+[\w<>\[\],.? ]*\(?"
    r"|@\w+|#define |module |object )"
)
_DIFF_KEEP = re.compile(r"^(?:diff --git |\+\+\+ |--- |@@ |new file mode|deleted file mode|rename (?:from|to) )")


def _trim(line: str, limit: int = _MAX_LINE) -> str:
    line = line.rstrip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _dedup(lines: list[str], limit: int) -> list[str]:
    seen: dict[str, None] = {}
    for ln in lines:
        if ln not in seen:
            seen[ln] = None
            if len(seen) >= limit:
                break
    return list(seen)


def _traceback_frames(lines: list[str]) -> list[str]:
    """The first and last frame of each traceback (Python, pytest or Java style)."""
    out: list[str] = []
    frames: list[str] = []

    def close() -> None:
        if frames:
            out.append(frames[0].strip())
            if len(frames) > 1:
                if len(frames) > 2:
                    out.append(f"  ... {len(frames) - 2} frames ...")
                out.append(frames[-1].strip())
            frames.clear()

    for i, ln in enumerate(lines):
        if _TRACEBACK_START.match(ln):
            close()
            continue
        if _PY_FRAME.match(ln) or _JAVA_FRAME.match(ln) or _PYTEST_FRAME.match(ln):
            frame = ln.strip()
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if _PY_FRAME.match(ln) and nxt and not _PY_FRAME.match(lines[i + 1]):
                frame = f"{frame}: {_trim(nxt, 100)}"
            frames.append(_trim(frame))
        elif frames and not ln.startswith((" ", "\t")) and ln.strip():
            close()
    close()
    return out


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").split("\n")


@lru_cache(maxsize=4_096)
def distill_test_output(text: str) -> str | None:
    """Counts, failing test ids, error lines, first/last frames of each traceback."""
    lines = _lines(text)
    counts = _dedup([_trim(ln.strip()) for ln in lines if _TEST_COUNTS.search(ln)], 10)
    failing = _dedup([_trim(ln.strip()) for ln in lines if _TEST_FAIL_ID.search(ln)], 50)
    errors = _dedup([_trim(ln.strip()) for ln in lines if _ERROR.search(ln)], _MAX_SIGNAL_LINES)
    frames = _dedup(_traceback_frames(lines), 40)
    parts = [f"[test output, {len(lines)} lines]"]
    if counts:
        parts += ["counts:", *counts]
    if failing:
        parts += ["failing:", *failing]
    if errors:
        parts += ["errors:", *errors]
    if frames:
        parts += ["traceback frames (first/last):", *frames]
    if not (counts or failing or errors):
        parts += ["tail:", *[_trim(ln) for ln in lines[-_TAIL_LINES:] if ln.strip()]]
    out = "\n".join(parts)
    return out if len(out) < len(text) else None


def _pointer(where: str, text: str) -> str:
    return f"{where}: {text}" if text else where


@lru_cache(maxsize=4_096)
def distill_search_results(text: str) -> str | None:
    """Deduplicated ``path:line`` pointers with the matched text trimmed."""
    lines = _lines(text)
    pointers: dict[str, None] = {}
    header: list[str] = []
    current_path = ""
    other = 0
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        m = _GREP.match(s)
        if m:
            current_path = m.group("path")
            text_part = _trim(m.group("text").strip(), _SEARCH_TEXT)
            pointers[_pointer(f"{current_path}:{m.group('line')}", text_part)] = None
            continue
        m = _LINE_ONLY.match(s)
        if m:
            prefix = f"{current_path}:" if current_path else ""
            pointers[_pointer(f"{prefix}{m.group('line')}", _trim(m.group("text").strip(), _SEARCH_TEXT))] = None
            continue
        m = _GREP_NOLINE.match(s)
        if m:
            pointers[_pointer(m.group("path"), _trim(m.group("text").strip(), _SEARCH_TEXT))] = None
            continue
        if s.startswith(("Found ", "No matches", "More than", "End of matches", "Here's the files")):
            if s.startswith("End of matches"):
                continue
            header.append(_trim(s))
            tail = s.rsplit(" in ", 1)[-1].rstrip(":")
            if "/" in tail:
                current_path = tail
            continue
        if " " not in s or s.startswith(("/", "./")):
            pointers[_trim(s)] = None  # a bare path (find, ls -R, directory listing)
            continue
        other += 1
    if not pointers:
        return None
    items = list(pointers)
    shown = items[:_MAX_POINTERS]
    parts = [*header[:3], f"[{len(items)} unique results" + (f", first {len(shown)} shown" if len(shown) < len(items) else "") + "]"]
    parts += shown
    if other:
        parts.append(f"[{other} other lines omitted]")
    out = "\n".join(parts)
    return out if len(out) < len(text) else None


@lru_cache(maxsize=4_096)
def distill_command_output(text: str) -> str | None:
    """Head, tail, and the lines in between that carry errors or warnings."""
    lines = _lines(text)
    if len(lines) <= _HEAD_LINES + _TAIL_LINES + 2:
        trimmed = [_trim(ln) for ln in lines]
        out = "\n".join(trimmed)
        return out if len(out) < 0.8 * len(text) else None
    head = [_trim(ln) for ln in lines[:_HEAD_LINES]]
    tail = [_trim(ln) for ln in lines[-_TAIL_LINES:]]
    middle = lines[_HEAD_LINES:-_TAIL_LINES]
    signal = _dedup([_trim(ln.strip()) for ln in middle if _ERROR.search(ln) or _WARN.search(ln)], _MAX_SIGNAL_LINES)
    frames = _dedup(_traceback_frames(middle), 20)
    parts = [*head, f"[... {len(middle)} lines omitted; errors/warnings among them follow ...]" if signal or frames else f"[... {len(middle)} lines omitted ...]"]
    parts += signal + [f for f in frames if f not in signal]
    parts += tail
    out = "\n".join(parts)
    return out if len(out) < len(text) else None


@lru_cache(maxsize=4_096)
def distill_error(text: str) -> str | None:
    """Error lines and the first/last frames of each traceback."""
    lines = _lines(text)
    errors = _dedup([_trim(ln.strip()) for ln in lines if _ERROR.search(ln)], _MAX_SIGNAL_LINES)
    frames = _dedup(_traceback_frames(lines), 40)
    if not errors and not frames:
        return distill_command_output(text)
    head = [_trim(ln) for ln in lines[:3] if ln.strip()]
    parts = [*head, f"[error output, {len(lines)} lines]"]
    if frames:
        parts += ["traceback frames (first/last):", *frames]
    parts += ["errors:", *[e for e in errors if e not in head]]
    out = "\n".join(parts)
    return out if len(out) < len(text) else None


@lru_cache(maxsize=4_096)
def distill_file_view(text: str) -> str | None:
    """The viewed path and line range plus its definition lines with line numbers."""
    lines = _lines(text)
    path = ""
    total = ""
    first = last = None
    defs: list[str] = []
    extra_header: list[str] = []
    for ln in lines[:3]:
        m = _VIEW_HEADER.match(ln.strip())
        if m:
            path = m.group("p1") or m.group("p2") or m.group("p3") or ""
            total = m.group("total") or ""
            break
    for ln in lines:
        m = _NUMBERED.match(ln)
        if not m:
            continue
        n = int(m.group("n"))
        first = n if first is None else first
        last = n
        code = m.group("code")
        if _DEFINITION.match(code):
            defs.append(f"{n}: {_trim(code.strip(), 120)}")
    if first is None:
        return _distill_plain_file(lines)
    where = f"{path} " if path else ""
    size = f" of {total}" if total else ""
    parts = [f"[file view: {where}lines {first}-{last}{size}]"]
    parts += extra_header
    if defs:
        parts += ["definitions:", *_dedup(defs, _MAX_DEFINITIONS)]
    out = "\n".join(parts)
    return out if len(out) < len(text) else None


def _distill_plain_file(lines: list[str]) -> str | None:
    """A file printed without line numbers (a read tool's raw content): lines counted from 1."""
    if len(lines) < 3:
        return None
    defs = [f"{n}: {_trim(ln.strip(), 120)}" for n, ln in enumerate(lines, 1) if _DEFINITION.match(ln)]
    parts = [f"[file view: lines 1-{len(lines)}]"]
    if defs:
        parts += ["definitions:", *_dedup(defs, _MAX_DEFINITIONS)]
    out = "\n".join(parts)
    return out if len(out) < 0.8 * sum(len(ln) + 1 for ln in lines) else None


@lru_cache(maxsize=4_096)
def distill_patch(text: str) -> str | None:
    """Files, hunk headers, and a trimmed sample of changed lines per hunk."""
    lines = _lines(text)
    parts: list[str] = []
    in_hunk = 0
    added = removed = 0
    for ln in lines:
        if _DIFF_KEEP.match(ln):
            parts.append(_trim(ln))
            in_hunk = 0
        elif ln.startswith(("+", "-")):
            added += ln.startswith("+")
            removed += ln.startswith("-")
            in_hunk += 1
            if in_hunk <= 6:
                parts.append(_trim(ln, 100))
            elif in_hunk == 7:
                parts.append("  ...")
    if not parts:
        return None
    parts.insert(0, f"[patch: +{added} -{removed} lines]")
    out = "\n".join(parts)
    return out if len(out) < len(text) else None


_FUNCTION_PARAM = re.compile(r"(<parameter=[\w\-]+>)(.*?)(</parameter>)", re.S)
_FENCED = re.compile(r"```[\w-]*\n(.*?)\n```", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s|\n")
_REASONING_CHARS = 200
_PARAM_CHARS = 240
_BLOCK_LINES = 6


def _trim_block(block: str) -> str:
    lines = block.split("\n")
    if len(lines) <= _BLOCK_LINES + 1 and len(block) <= 2 * _PARAM_CHARS:
        return block
    head = [_trim(ln, 120) for ln in lines[:_BLOCK_LINES]]
    return "\n".join([*head, f"… [{len(lines) - _BLOCK_LINES - 1} lines]", lines[-1]])


@lru_cache(maxsize=8_192)
def distill_assistant_turn(text: str) -> str | None:
    """An older assistant turn: its first sentence of reasoning and its action, long arguments trimmed.

    The action markup (``<function=...>`` parameters, fenced command block) is
    kept so the turn still says what was done; long parameter values (file
    contents, replacement text) keep their first lines.
    """
    start = text.find("<function=")
    fence = text.find("```") if start < 0 else -1
    cut = start if start >= 0 else fence
    reasoning = text[:cut] if cut >= 0 else text
    action = text[cut:] if cut >= 0 else ""
    parts = _SENTENCE_END.split(reasoning.strip(), maxsplit=1)
    first = _trim(parts[0], _REASONING_CHARS) if parts and parts[0] else ""
    if len(parts) > 1 and len(first) < 40:
        first = _trim(reasoning.strip().replace("\n", " "), _REASONING_CHARS)
    if start >= 0:
        action = _FUNCTION_PARAM.sub(
            lambda m: m.group(1) + (_trim_block(m.group(2)) if len(m.group(2)) > _PARAM_CHARS else m.group(2)) + m.group(3),
            action,
        )
    elif fence >= 0:
        action = _FENCED.sub(lambda m: "```\n" + _trim_block(m.group(1)) + "\n```", action, count=1)
    out = f"{first}\n{action}".strip() if action else first
    return out if len(out) < 0.8 * len(text) else None


_BY_TYPE: dict[ContentType, Callable[[str], str | None]] = {
    ContentType.TEST_OUTPUT: distill_test_output,
    ContentType.SEARCH_RESULTS: distill_search_results,
    ContentType.COMMAND_OUTPUT: distill_command_output,
    ContentType.ERROR_TRACEBACK: distill_error,
    ContentType.FILE_VIEW: distill_file_view,
    ContentType.PATCH_DIFF: distill_patch,
    ContentType.JSON_DATA: distill_json,
    ContentType.OTHER: distill_command_output,
    ContentType.TOOL_CALL: distill_assistant_turn,
    ContentType.ASSISTANT_REASONING: distill_assistant_turn,
}


def distill(content_type: ContentType, text: str) -> str | None:
    """Distil ``text`` according to its type.

    Args:
        content_type: The output's type.
        text: The output (observation prefix and prompt footer already removed).

    Returns:
        The distilled text, or ``None`` when the type has no distiller or the
        result would not be shorter.
    """
    fn = _BY_TYPE.get(content_type)
    return fn(text) if fn is not None else None
