"""Identifiers for the ``identifier_retention`` metric: paths, ``file:line`` pointers, symbols.

This is the *measuring* definition, kept apart from anything a compression
engine uses internally so an engine cannot be tuned to its own ruler.

:func:`extract_identifiers` returns the set of these strings found in a text:

* **file paths**: a run of path characters (letters, digits, ``_ . - @ +``)
  with at least one ``/`` between two of them, optionally starting with ``/``,
  ``./`` or ``../`` (``/testbed/astropy/modeling/separable.py``,
  ``src/main/java/Foo.java``); and a bare file name ``name.ext`` whose
  extension is in :data:`FILE_EXTENSIONS` (``reproduce.py``, ``pom.xml``).
  Trailing ``.``, ``,`` and ``:`` are not part of a path.
* **file:line references**: a path or file name followed by ``:`` and digits
  (``core.py:120``, ``/testbed/x.py:12:5`` gives ``/testbed/x.py:12``), and a
  Python traceback line ``File "P", line N`` (gives ``P:N``). The path alone is
  also an identifier.
* **code symbols**, taken from the maximal words of the form
  ``[A-Za-z_][A-Za-z0-9_]*`` that are not part of a path:

  - *dotted names*: two or more such words joined by ``.`` with no spaces,
    at least one of them two characters or longer, that are not file names
    (``os.path.join``, ``org.apache.dubbo.common.utils.PojoUtils``,
    ``self.model``); each CamelCase or snake_case part of a dotted name is also
    a symbol on its own (``PojoUtils``);
  - *CamelCase / camelCase*: a word of at least 4 characters with a lower-case
    letter or digit directly followed by an upper-case letter
    (``CompoundModel``, ``getValue``, ``separabilityMatrix``) or an upper-case
    run followed by a lower-case letter after a second capital
    (``HTTPServer``);
  - *snake_case*: a word of at least 3 characters that contains an underscore
    and at least one letter (``separability_matrix``, ``_cstack``,
    ``__init__``, ``MAX_SIZE``).

  Plain words (``the``, ``Python``, ``JSON``, ``x``) are not identifiers.

:func:`action_identifiers` gives the identifiers an action *uses* that the
agent saw earlier: those of the action's text, minus the interface's own words
(the tool or program name, an editor sub-command, ``--option`` names and the
0.x ``end_of_edit`` line; :func:`strip_interface_words`), that
:func:`occurs_in` one of the earlier observations. :func:`occurs_in` is a plain substring test whose
match may not be glued to more name characters (``[A-Za-z0-9_]``) on either
side: ``core.py`` occurs in ``/testbed/core.py:12`` but ``Model`` does not
occur in ``CompoundModel``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "FILE_EXTENSIONS",
    "action_identifiers",
    "extract_identifiers",
    "occurs_in",
    "strip_interface_words",
]

FILE_EXTENSIONS: frozenset[str] = frozenset(
    ["py", "pyi", "pyx", "ipynb", "java", "kt", "scala", "groovy", "gradle", "js", "jsx", "mjs", "ts", "tsx", "c", "h", "cc", "cpp", "cxx", "hpp", "go", "rs", "rb", "php", "cs", "swift", "sh", "bash", "md", "rst", "txt", "json", "yaml", "yml", "toml", "cfg", "ini", "xml", "html", "css", "sql", "properties", "csv", "log", "patch", "diff", "proto", "lock", "in"]
)
"""Extensions that make a bare ``name.ext`` a file name rather than a dotted symbol."""

_PATH_CHARS = r"[A-Za-z0-9_.\-@+]"
_PATH_RE = re.compile(
    rf"(?<![A-Za-z0-9_.\-@+/])(?:\.{{1,2}}/|/)?{_PATH_CHARS}+(?:/{_PATH_CHARS}+)+/?(?::(\d+))?"
)
_DOTTED_RE = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?::(\d+))?")
_WORD_RE = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_])")
_TRACEBACK_RE = re.compile(r'File "([^"\n]+)", line (\d+)')
_CAMEL_RE = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2}[a-z]")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _is_file_name(token: str) -> bool:
    stem, dot, ext = token.rpartition(".")
    return bool(dot and stem and ext in FILE_EXTENSIONS)


def _is_symbol(word: str) -> bool:
    if len(word) >= 3 and "_" in word and any(c.isalpha() for c in word):
        return True
    return len(word) >= 4 and _CAMEL_RE.search(word) is not None


@lru_cache(maxsize=32_768)
def _extract(text: str) -> frozenset[str]:
    found: set[str] = set()
    covered: list[tuple[int, int]] = []
    for m in _PATH_RE.finditer(text):
        path = m.group(0)
        line = m.group(1)
        if line:
            path = path[: -len(line) - 1]
        path = path.rstrip(".,:")
        if path.count("/") == 0 or not any(c.isalnum() for c in path):
            continue
        found.add(path)
        if line:
            found.add(f"{path}:{line}")
        covered.append((m.start(), m.end()))
    for m in _TRACEBACK_RE.finditer(text):
        found.add(m.group(1))
        found.add(f"{m.group(1)}:{m.group(2)}")
    for m in _DOTTED_RE.finditer(text):
        if _inside(covered, m.start()):
            continue
        token, line = m.group(0), m.group(1)
        if line:
            token = token[: -len(line) - 1]
        parts = token.split(".")
        covered.append((m.start(), m.end()))
        if _is_file_name(token):
            found.add(token)
            if line:
                found.add(f"{token}:{line}")
            continue
        if any(len(p) >= 2 for p in parts):
            found.add(token)
        found.update(p for p in parts if _is_symbol(p))
    for m in _WORD_RE.finditer(text):
        if not _inside(covered, m.start()) and _is_symbol(m.group(0)):
            found.add(m.group(0))
    return frozenset(found)


def _inside(spans: list[tuple[int, int]], pos: int) -> bool:
    # Spans are few per text and appended in order of two passes; a linear scan is cheap.
    return any(start <= pos < end for start, end in spans)


def extract_identifiers(text: str) -> set[str]:
    """The identifiers in ``text`` (paths, ``file:line`` references, code symbols).

    See the module docstring for the exact definition.

    Args:
        text: Any text: a command, an observation, a message.

    Returns:
        A new set of identifier strings.
    """
    return set(_extract(text))


def occurs_in(identifier: str, text: str) -> bool:
    """Whether ``identifier`` appears in ``text`` not glued to more name characters.

    Args:
        identifier: An identifier string.
        text: The text to look in.

    Returns:
        True when some occurrence has no ``[A-Za-z0-9_]`` character directly
        before or after it.
    """
    if not identifier:
        return False
    start = text.find(identifier)
    size = len(identifier)
    while start != -1:
        before = text[start - 1] if start > 0 else ""
        end = start + size
        after = text[end] if end < len(text) else ""
        if before not in _NAME_CHARS and after not in _NAME_CHARS:
            return True
        start = text.find(identifier, start + 1)
    return False


_EDITOR_TOOLS = frozenset({"str_replace_editor", "str_replace_based_edit_tool"})
_OPTION_RE = re.compile(r"(?<!\S)--?[A-Za-z][A-Za-z0-9_\-]*")
_END_OF_EDIT_RE = re.compile(r"^\s*end_of_edit\s*$", re.MULTILINE)


def strip_interface_words(action: str) -> str:
    """The action without the agent interface's own vocabulary.

    Removes the first word (the tool or program: ``find_file``,
    ``str_replace_editor``), an editor tool's sub-command (``str_replace``,
    ``view``), option names (``--view_range``, ``--old_str``, ``-n``) and the
    0.x ``end_of_edit`` terminator line, so only what the action is *about*
    remains.
    """
    text = action.strip()
    words = text.split(None, 2)
    if words and words[0] in _EDITOR_TOOLS:
        text = words[2] if len(words) > 2 else ""
    elif words:
        text = text[len(words[0]) :]
    text = _END_OF_EDIT_RE.sub("", text)
    return _OPTION_RE.sub(" ", text)


def action_identifiers(action: str, earlier_observations: Sequence[str] | Iterable[str]) -> set[str]:
    """Identifiers the action uses that appeared in an earlier observation.

    Args:
        action: The command of the step.
        earlier_observations: The observations of the steps before it.

    Returns:
        The identifiers of ``action`` without its interface words
        (:func:`strip_interface_words`, then :func:`extract_identifiers`) that
        :func:`occurs_in` at least one earlier observation.
    """
    wanted = extract_identifiers(strip_interface_words(action))
    if not wanted:
        return set()
    seen: set[str] = set()
    for obs in earlier_observations:
        for ident in wanted - seen:
            if occurs_in(ident, obs):
                seen.add(ident)
        if len(seen) == len(wanted):
            break
    return seen
