"""What earlier observations showed, for the ``anchor_retention`` ruler.

:class:`ObservationLog` reads the observations of a run one step at a time and
remembers what an agent could later copy from them literally:

* **the text** of every observation (to test that an action's literal text
  was shown before: :meth:`ObservationLog.shown`);
* **file windows**: numbered listings of one file, in the two SWE-agent
  formats: 0.x ``[File: P (N lines total)]`` followed by ``N:text`` lines, and
  1.x ``Here's the result of running `cat -n` on [a snippet of] P:`` followed
  by ``   N<TAB>text`` lines; also ``cat -n P`` run in a shell
  (:meth:`ObservationLog.window_lines`, :meth:`ObservationLog.current_file`);
* **line evidence**: every string that ties a line number to a file
  (:meth:`ObservationLog.line_evidence`):

  - ``P:N`` (grep over several files, compiler messages, Java stack frames
    ``(Foo.java:120)``), with ``P`` a path or file name with an extension;
  - ``P:[N,M]`` (Maven compiler errors);
  - ``File "P", line N`` (Python tracebacks);
  - a window line (``N:text`` or ``N<TAB>text``, leading padding removed);
  - ``Line N:text`` under a 0.x ``Found k matches for "X" in P:`` header;
  - ``N:text`` / ``N-text`` lines printed by ``grep -n`` over one file, whose
    path the action names.

  A window or listing line with no text after its number is not evidence (a
  bare number proves nothing). Two paths name the same file when they are
  equal after removing a leading ``./`` or when one ends with ``/`` + the
  other (``core.py``, ``astropy/modeling/core.py`` and
  ``/testbed/astropy/modeling/core.py`` are one file).

This module is part of the measuring code: it shares nothing with the
compression engine.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

__all__ = ["ObservationLog", "SearchCall", "same_file", "search_calls", "shell_segments"]

TEXT_SEPARATOR = "\n\x00\n"
"""Joins texts so that no single-line string can match across two of them."""

_WINDOW_0X_RE = re.compile(r"^\[File: (.+?) \(\d+ lines total\)\]\s*$")
_WINDOW_1X_RE = re.compile(r"^Here's the result of running `cat -n` on (?:a snippet of )?(.+?):\s*$")
_LINE_0X_RE = re.compile(r"^(\d+):(.*)$")
_LINE_TAB_RE = re.compile(r"^\s*(\d+)\t(.*)$")
_SEARCH_HEADER_RE = re.compile(r'^Found \d+ matches for ".*" in (.+?):\s*$')
_SEARCH_LINE_RE = re.compile(r"^Line (\d+):(.*)$")
_GREP_LINE_RE = re.compile(r"^(\d+)[:-](.*)$")
_FILE_REF = r"(?<![\w./\-@+])(/?(?:[\w.\-@+]+/)*[\w\-@+][\w.\-@+]*\.[A-Za-z][A-Za-z0-9]*)"
_REF_RE = re.compile(_FILE_REF + r":(\d+)(?!\d)")
_MAVEN_REF_RE = re.compile(_FILE_REF + r":\[(\d+),\d+\]")
_TRACEBACK_RE = re.compile(r'File "([^"\n]+)", line (\d+)')
_GREP_PROGRAMS = frozenset({"grep", "egrep", "fgrep"})
_SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", "&", ";;", "(", ")", "\n"})


def _normal_path(path: str) -> str:
    path = path.strip().strip("'\"")
    while path.startswith("./"):
        path = path[2:]
    return path


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (equal, or one ends with ``/`` + the other)."""
    a, b = _normal_path(a), _normal_path(b)
    if not a or not b:
        return False
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def _basename(path: str) -> str:
    return _normal_path(path).rsplit("/", 1)[-1]


def shell_segments(command: str) -> list[list[str]]:
    """The simple commands of a shell line: words split at ``|``, ``&&``, ``;`` ...

    Quotes are honoured (``grep "a | b" f`` is one command). A line that cannot
    be split (unbalanced quotes) gives no segments.
    """
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    segments: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token in _SHELL_OPERATORS:
                segments.append([])
            else:
                segments[-1].append(token)
    except ValueError:
        return []
    return [s for s in segments if s]


@dataclass
class _Window:
    path: str
    lines: dict[int, str] = field(default_factory=dict)


@dataclass
class ObservationLog:
    """The observations of one run so far, indexed for anchor checks.

    Call :meth:`add` after each step with that step's action and observation.
    """

    _joined: list[str] = field(default_factory=list)
    _text: str = ""
    _windows: list[_Window] = field(default_factory=list)
    # basename -> line number -> [(path, evidence string)]
    _evidence: dict[str, dict[int, list[tuple[str, str]]]] = field(default_factory=dict)

    def add(self, action: str, observation: str) -> None:
        """Record one step: its action (for single-file listings) and observation."""
        self._joined.append(observation)
        self._text = ""
        self._scan_references(observation)
        self._scan_listings(observation, _single_file_listing(action))

    def shown(self, text: str) -> bool:
        """Whether ``text`` occurs verbatim in an earlier observation."""
        if not self._text and self._joined:
            self._text = TEXT_SEPARATOR.join(self._joined)
        return bool(text) and text in self._text

    def current_file(self) -> str | None:
        """The file of the latest window shown (the file a 0.x ``edit``/``goto`` acts on)."""
        return self._windows[-1].path if self._windows else None

    def window_lines(self, path: str, start: int, end: int) -> list[str]:
        """Lines ``start..end`` of ``path`` as the latest window covering any of them showed.

        Returns:
            The texts of the lines of that range the window shows, in order; ``[]``
            when no window of ``path`` showed any of them.
        """
        for window in reversed(self._windows):
            if not same_file(window.path, path):
                continue
            shown = [window.lines[n] for n in range(start, end + 1) if n in window.lines]
            if shown:
                return shown
        return []

    def line_evidence(self, path: str, line: int) -> list[str]:
        """The distinct strings of earlier observations that show ``line`` of ``path``."""
        found: list[str] = []
        for seen_path, text in self._evidence.get(_basename(path), {}).get(line, []):
            if same_file(seen_path, path) and text not in found:
                found.append(text)
        return found

    def _note(self, path: str, line: int, evidence: str) -> None:
        if not evidence.strip():
            return
        by_line = self._evidence.setdefault(_basename(path), {})
        by_line.setdefault(line, []).append((path, evidence))

    def _scan_references(self, observation: str) -> None:
        for m in _REF_RE.finditer(observation):
            self._note(m.group(1), int(m.group(2)), m.group(0))
        for m in _MAVEN_REF_RE.finditer(observation):
            self._note(m.group(1), int(m.group(2)), m.group(0))
        for m in _TRACEBACK_RE.finditer(observation):
            self._note(m.group(1), int(m.group(2)), m.group(0))

    def _scan_listings(self, observation: str, listed: tuple[str, str] | None) -> None:
        window: _Window | None = None
        search_path: str | None = None
        for raw in observation.splitlines():
            line = raw.rstrip()
            header = _WINDOW_0X_RE.match(line) or _WINDOW_1X_RE.match(line)
            if header:
                window = _Window(header.group(1).strip())
                self._windows.append(window)
                search_path = None
                continue
            header = _SEARCH_HEADER_RE.match(line)
            if header:
                search_path, window = header.group(1).strip(), None
                continue
            if search_path is not None and (m := _SEARCH_LINE_RE.match(line)):
                if m.group(2).strip():
                    self._note(search_path, int(m.group(1)), line)
                continue
            if window is not None and (m := _LINE_0X_RE.match(line) or _LINE_TAB_RE.match(line)):
                number, text = int(m.group(1)), m.group(2)
                window.lines[number] = text
                if text.strip():
                    self._note(window.path, number, line.lstrip())
                continue
            if listed is not None and window is None and search_path is None:
                kind, path = listed
                m = _LINE_TAB_RE.match(line) if kind == "cat" else _GREP_LINE_RE.match(line)
                if m and m.group(2).strip():
                    self._note(path, int(m.group(1)), line.lstrip())
        if listed is not None and listed[0] == "cat":
            # ``cat -n FILE`` prints a whole file: a window of it, like the editor's view.
            cat_window = _Window(listed[1])
            for raw in observation.splitlines():
                m = _LINE_TAB_RE.match(raw.rstrip())
                if m:
                    cat_window.lines[int(m.group(1))] = m.group(2)
            if cat_window.lines:
                self._windows.append(cat_window)


@dataclass(frozen=True, slots=True)
class SearchCall:
    """A ``grep``-family command: its pattern, file operands and short flags."""

    program: str
    pattern: str | None
    files: tuple[str, ...]
    flags: frozenset[str]
    long_options: frozenset[str]


_SEARCH_PROGRAMS = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "ack"})
_SHORT_WITH_ARG = frozenset("ABCDdefgmtT")
_LONG_WITH_ARG = frozenset(
    {"regexp", "file", "include", "exclude", "exclude-dir", "max-count", "after-context", "before-context",
     "context", "glob", "iglob", "type", "type-not", "max-depth"}
)  # fmt: skip


def search_calls(command: str) -> list[SearchCall]:
    """The ``grep``/``rg``/``ag``/``ack`` (and ``git grep``) commands of a shell line.

    Options are read the way GNU grep reads them: short flags may be combined
    (``-rn``), ``-A 3``/``-A3`` and ``--include X``/``--include=X`` take a
    value, ``-e PATTERN`` gives the pattern, ``--`` ends the options; the first
    other word is the pattern (unless ``-e`` gave it) and the rest are files.
    """
    calls: list[SearchCall] = []
    for words in shell_segments(command):
        while words and words[0] in ("xargs", "sudo", "command", "time"):
            rest = words[1:]
            while words[0] == "xargs" and rest and rest[0].startswith("-"):
                rest = rest[1:]
            words = rest
        if len(words) >= 2 and words[0] == "git" and words[1] == "grep":
            words = words[1:]
        if not words or words[0].rsplit("/", 1)[-1] not in _SEARCH_PROGRAMS:
            continue
        flags: set[str] = set()
        longs: set[str] = set()
        pattern: str | None = None
        operands: list[str] = []
        i, options_done = 1, False
        while i < len(words):
            word = words[i]
            i += 1
            if options_done or not word.startswith("-") or word == "-":
                operands.append(word)
            elif word == "--":
                options_done = True
            elif word.startswith("--"):
                name, eq, value = word[2:].partition("=")
                longs.add(name)
                if name in _LONG_WITH_ARG and not eq and i < len(words):
                    value = words[i]
                    i += 1
                if name == "regexp":
                    pattern = value
            else:
                for j, flag in enumerate(word[1:], start=1):
                    flags.add(flag)
                    if flag in _SHORT_WITH_ARG:
                        value = word[j + 1 :]
                        if not value and i < len(words):
                            value = words[i]
                            i += 1
                        if flag == "e":
                            pattern = value
                        break
        if pattern is None and operands:
            pattern, operands = operands[0], operands[1:]
        program = words[0].rsplit("/", 1)[-1]
        calls.append(SearchCall(program, pattern, tuple(operands), frozenset(flags), frozenset(longs)))
    return calls


def _single_file_listing(action: str) -> tuple[str, str] | None:
    """``("grep", path)`` for ``grep -n`` over one file, ``("cat", path)`` for ``cat -n FILE``."""
    for call in search_calls(action):
        if call.program not in _GREP_PROGRAMS:
            continue
        numbered = "n" in call.flags or "line-number" in call.long_options
        recursive = bool(call.flags & {"r", "R", "l", "L", "c"}) or "recursive" in call.long_options
        if numbered and not recursive and len(call.files) == 1:
            path = call.files[0]
            if "." in _basename(path) and "*" not in path:
                return "grep", path
        return None
    for words in shell_segments(action):
        if words[0].rsplit("/", 1)[-1] == "cat" and "-n" in words[1:]:
            files = [w for w in words[1:] if not w.startswith("-")]
            return ("cat", files[0]) if len(files) == 1 else None
    return None
