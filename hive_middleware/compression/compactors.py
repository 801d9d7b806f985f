"""COMPACT: strip terminal noise without losing information.

ANSI escape codes, carriage-return redraws (progress bars rewrite one line many
times; only the final state matters), progress-bar lines, and runs of identical
lines (collapsed to one line plus a count). Everything else is kept verbatim,
so a compacted text says the same thing in fewer tokens.
"""

from __future__ import annotations

import re

__all__ = ["compact"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
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


def compact(text: str) -> str:
    """Strip ANSI codes, CR redraws and progress bars; collapse repeated lines.

    Windows line ends (``\\r\\n``) are normalised to ``\\n`` first so they are not
    mistaken for redraws.

    Args:
        text: Raw terminal output.

    Returns:
        The compacted text (``text`` itself when nothing changes).
    """
    out = text
    if "\x1b" in out:
        out = _ANSI.sub("", out)
    if "\r" in out:
        out = out.replace("\r\n", "\n")
        if "\r" in out:
            out = "\n".join(_last_redraw(line) for line in out.split("\n"))
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
        if ("%" in line or "[" in line) and len(line) < 200 and _PROGRESS.match(line):
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
