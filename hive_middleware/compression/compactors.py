"""COMPACT: strip terminal noise without losing information.

ANSI escape codes, carriage-return redraws (progress bars rewrite one line many
times; only the final state matters), progress-bar lines, and runs of identical
lines (collapsed to one line plus a count). Everything else is kept verbatim,
so a compacted text says the same thing in fewer tokens.
"""

from __future__ import annotations

import re

__all__ = ["clean_terminal", "compact", "elide_long_lines", "has_long_line", "is_progress_line", "skip_progress_lines"]

# OSC (window titles, hyperlinks) first: its "ESC ]" would otherwise match as a two-byte code.
_ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# A bar drawn with block/hash/equals characters, or a tqdm-style "45%|####   | 9/20".
_PROGRESS = re.compile(
    r"^\s*(?:[\w .:/\-]{0,60})?(?:\d{1,3}(?:\.\d+)?%\s*\|?[\s#█▉▊▋▌▍▎▏=>\-.]*\|?|\[[#=>\-. ]{10,}\])"
    r"[^\n]{0,80}$"
)
_MIN_REPEAT = 3


def _last_redraw(line: str) -> str:
    # A carriage return moves the cursor to column 0: the terminal shows what was written last.
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""


def is_progress_line(line: str) -> bool:
    """Whether ``line`` is one frame of a progress bar (``45%|####   | 9/20``, ``[=====>    ]``)."""
    return ("%" in line or "[" in line) and len(line) < 200 and _PROGRESS.match(line) is not None


def skip_progress_lines(text: str) -> str:
    """``text`` without its leading progress-bar and blank lines (what it prints after the bar)."""
    while text:
        line, sep, rest = text.partition("\n")
        if line.strip() and not is_progress_line(line):
            return text
        if not sep:
            return ""
        text = rest
    return text


def clean_terminal(text: str) -> str:
    """What a terminal would show: ANSI colour/cursor codes removed, CRLF as LF, CR redraws resolved.

    A carriage return inside a line redraws it (progress bars): only the last
    frame is kept. Cheap when there is nothing to do (two substring tests).

    Args:
        text: Raw tool output.

    Returns:
        The cleaned text (``text`` itself when nothing changes).
    """
    out = text
    if "\x1b" in out:
        out = _ANSI.sub("", out)
    if "\r" in out:
        out = out.replace("\r\n", "\n")
        if "\r" in out:
            out = "\n".join(_last_redraw(line) if "\r" in line else line for line in out.split("\n"))
    return text if out == text else out


LONG_LINE_CHARS = 1_000
"""Lines longer than this (minified JSON, base64 blobs) are elided when an output is compressed."""
_ELIDED_HEAD = 120
_BLOB_HEAD = 24
_BLOB_RUN = 60
_BLOB = re.compile(rf"\S{{{_BLOB_RUN},}}")


def has_long_line(text: str, limit: int = LONG_LINE_CHARS) -> bool:
    """Whether some line of ``text`` is longer than ``limit`` characters."""
    if len(text) <= limit:
        return False
    start = 0
    while True:
        end = text.find("\n", start)
        if (len(text) if end < 0 else end) - start > limit:
            return True
        if end < 0:
            return False
        start = end + 1


def elide_long_lines(text: str, limit: int = LONG_LINE_CHARS) -> str:
    """Replace each line over ``limit`` characters by its head and its length.

    Lossy: the compressor labels such an output ``DISTILL``, stores its original
    and names the handle in the message's note, so the line stays recallable.
    """
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) > limit:
            # A blob (base64, minified data) has no words to show: a short head says what it is.
            blob = _BLOB.search(line, 0, _ELIDED_HEAD + _BLOB_RUN)
            head = min(_ELIDED_HEAD, blob.start() + _BLOB_HEAD) if blob else _ELIDED_HEAD
            line = f"{line[:head]}… [line of {len(line)} chars elided]"
        out.append(line)
    return "\n".join(out)


def compact(text: str) -> str:
    """Strip ANSI codes, CR redraws and progress bars; collapse repeated lines.

    Windows line ends (``\\r\\n``) are normalised to ``\\n`` first so they are not
    mistaken for redraws.

    Args:
        text: Raw terminal output.

    Returns:
        The compacted text (``text`` itself when nothing changes).
    """
    out = clean_terminal(text)
    lines = out.split("\n")
    if len(lines) < _MIN_REPEAT and "%" not in out:
        return out
    kept: list[str] = []
    prev: str | None = None
    run = 0
    bar: str | None = None  # last line of the current run of progress-bar lines

    def flush() -> None:
        if prev is None:
            return
        kept.append(prev)
        if run >= _MIN_REPEAT:
            kept.append(f"[previous line repeated {run - 1} more times]")
        else:
            kept.extend([prev] * (run - 1))

    for line in lines:
        if is_progress_line(line):
            bar = line  # a redrawn bar: only its final state matters
            continue
        if bar is not None:
            flush()
            prev, run = bar, 1
            bar = None
        if line == prev:
            run += 1
            continue
        flush()
        prev, run = line, 1
    if bar is not None:
        flush()
        prev, run = bar, 1
    flush()
    result = "\n".join(kept)
    return text if result == text else result
