"""Anchors for the ``anchor_retention`` ruler: literal text an action copied from an observation.

``identifier_retention`` asks whether the *names* an action uses are still in
the compressed context; a compressor can meet it by listing names. An
*anchor* is text an action must reproduce character for character, so only
the text itself, not a list of names, satisfies it. :func:`action_anchors`
finds the anchors of one action, given the :class:`~hive_middleware.evals.anchor_sources.ObservationLog`
of the observations before it:

* ``old_text``: the ``--old_str`` of ``str_replace_editor str_replace``
  (SWE-agent 1.x), split into lines;
* ``edit_lines``: for a 0.x ``edit S:E`` (replaced lines ``S..E`` of the open
  file, the file of the latest window), the text those lines had in the
  latest window of that file that showed any of them;
* ``patch``: the removed lines (``-`` lines, not ``---``) of a unified diff
  (``@@`` hunk) inside the action;
* ``search``: the pattern of ``grep``/``egrep``/``fgrep``/``rg``/``ag``/``ack``/``git grep``
  (with ``-e``, option values and ``--`` honoured) and the argument of the
  0.x ``search_file``/``search_dir``/``find_file`` tools;
* ``path_line``: the line ``N`` of ``open PATH N`` (0.x) or of
  ``str_replace_editor view PATH --view_range N M`` (1.x);
* ``goto``: the line ``N`` of a 0.x ``goto N`` in the open file.

An anchor is kept only when it was *copied from an earlier observation*:
every line of ``old_text``/``edit_lines``/``patch`` and the ``search``
pattern occur verbatim in some earlier observation; for ``path_line`` and
``goto`` some earlier observation ties line ``N`` to that file
(:meth:`~hive_middleware.evals.anchor_sources.ObservationLog.line_evidence`).
Text lines are compared without their trailing whitespace; blank lines are
left out; an anchor of fewer than :data:`MIN_ANCHOR_CHARS` non-space
characters is left out (too short to tell copied text from chance).

An anchor is **retained** in a context (:meth:`Anchor.visible_in`) when one
of its *alternatives* is wholly visible: every line of it occurs verbatim in
the context's text. Text anchors have one alternative (all their lines); a
line-number anchor has one per evidence string (``core.py:808``,
``808:    def f(self):``, ``File "x.py", line 808`` ...), since any of them
lets the agent find the number again.

This module is part of the measuring code: it shares nothing with the
compression engine.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hive_middleware.evals.anchor_sources import ObservationLog, search_calls

__all__ = ["ANCHOR_KINDS", "MIN_ANCHOR_CHARS", "Anchor", "action_anchors"]

MIN_ANCHOR_CHARS = 6
"""Shortest anchor, in non-whitespace characters."""

ANCHOR_KINDS = ("old_text", "edit_lines", "patch", "search", "path_line", "goto")
"""Every anchor kind, in report order."""

_EDITOR_TOOLS = frozenset({"str_replace_editor", "str_replace_based_edit_tool"})
_EDIT_0X_RE = re.compile(r"\Aedit\s+(\d+)\s*:\s*(\d+)\s*$", re.MULTILINE)
_HUNK_RE = re.compile(r"^@@ ", re.MULTILINE)
_TOOL_SEARCHES = frozenset({"search_file", "search_dir", "find_file"})


@dataclass(frozen=True, slots=True)
class Anchor:
    """Literal text an action copied from an earlier observation.

    Attributes:
        kind: One of :data:`ANCHOR_KINDS`.
        alternatives: Each a tuple of strings; the anchor is visible when all
            strings of one alternative are.
    """

    kind: str
    alternatives: tuple[tuple[str, ...], ...]

    def visible_in(self, text: str) -> bool:
        """Whether every string of some alternative occurs verbatim in ``text``."""
        return any(all(s in text for s in alt) for alt in self.alternatives)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.rstrip() for line in text.splitlines() if line.strip())


def _long_enough(strings: Iterable[str]) -> bool:
    return sum(len("".join(s.split())) for s in strings) >= MIN_ANCHOR_CHARS


def _text_anchor(kind: str, lines: Sequence[str], log: ObservationLog) -> Anchor | None:
    lines = tuple(lines)
    if not lines or not _long_enough(lines) or not all(log.shown(line) for line in lines):
        return None
    return Anchor(kind, (lines,))


def _line_anchor(kind: str, path: str, line: int, log: ObservationLog) -> Anchor | None:
    evidence = [e for e in log.line_evidence(path, line) if _long_enough([e])]
    if not evidence:
        return None
    return Anchor(kind, tuple((e,) for e in evidence))


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return []


def _option(words: Sequence[str], name: str, count: int = 1) -> list[str] | None:
    for i, word in enumerate(words):
        if word == name and i + count < len(words):
            return list(words[i + 1 : i + 1 + count])
        if word.startswith(name + "="):
            return [word[len(name) + 1 :]]
    return None


def _editor_anchors(text: str, log: ObservationLog) -> list[Anchor]:
    words = _split(text)
    if len(words) < 3:
        return []
    command, path = words[1], words[2]
    if command == "str_replace":
        old = _option(words, "--old_str")
        anchor = _text_anchor("old_text", _lines(old[0]), log) if old else None
        return [anchor] if anchor else []
    if command == "view":
        view_range = _option(words, "--view_range", 2)
        if view_range:
            first = view_range[0].strip("[], ")
            if first.isdigit():
                anchor = _line_anchor("path_line", path, int(first), log)
                return [anchor] if anchor else []
    return []


def _edit_0x_anchors(match: re.Match[str], log: ObservationLog) -> list[Anchor]:
    path = log.current_file()
    if path is None:
        return []
    start, end = int(match.group(1)), int(match.group(2))
    shown = [line.rstrip() for line in log.window_lines(path, start, end) if line.strip()]
    anchor = _text_anchor("edit_lines", shown, log)
    return [anchor] if anchor else []


def _patch_anchors(text: str, log: ObservationLog) -> list[Anchor]:
    removed = [
        line[1:].rstrip()
        for line in text.splitlines()
        if line.startswith("-") and not line.startswith("---") and line[1:].strip()
    ]
    anchor = _text_anchor("patch", removed, log)
    return [anchor] if anchor else []


def _search_anchor(pattern: str | None, log: ObservationLog) -> Anchor | None:
    if not pattern or "\n" in pattern:
        return None
    return _text_anchor("search", [pattern], log)


def action_anchors(action: str, log: ObservationLog) -> list[Anchor]:
    """The anchors of ``action``: literal text it copied from the observations in ``log``.

    Args:
        action: The command of the step (0.x or 1.x SWE-agent, or a shell line).
        log: The observations of the earlier steps of the run.

    Returns:
        The anchors, at most one per kind and searched pattern (see the module
        docstring).
    """
    text = action.strip()
    if not text:
        return []
    first = text.split(None, 1)[0]
    anchors: list[Anchor] = []
    if first in _EDITOR_TOOLS:
        return _editor_anchors(text, log)
    edit = _EDIT_0X_RE.match(text)
    if edit:
        return _edit_0x_anchors(edit, log)
    if first == "open":
        words = _split(text.splitlines()[0])
        if len(words) >= 3 and words[2].isdigit():
            anchor = _line_anchor("path_line", words[1], int(words[2]), log)
            return [anchor] if anchor else []
        return []
    if first == "goto":
        words = text.split()
        path = log.current_file()
        if len(words) == 2 and words[1].isdigit() and path is not None:
            anchor = _line_anchor("goto", path, int(words[1]), log)
            return [anchor] if anchor else []
        return []
    if first in _TOOL_SEARCHES:
        words = _split(text.splitlines()[0])
        anchor = _search_anchor(words[1] if len(words) > 1 else None, log)
        return [anchor] if anchor else []
    if _HUNK_RE.search(text):
        anchors.extend(_patch_anchors(text, log))
    seen: set[str] = set()
    for call in search_calls(text):
        if call.pattern is not None and call.pattern not in seen:
            seen.add(call.pattern)
            anchor = _search_anchor(call.pattern, log)
            if anchor:
                anchors.append(anchor)
    return anchors
