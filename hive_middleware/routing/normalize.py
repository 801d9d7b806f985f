"""Exact-match normalisation of shell-style actions.

Two commands compare equal after :func:`normalize_command` only when a shell
would execute them identically. The rules, each tested in
``tests/unit/routing/test_normalize.py``:

``N1 whitespace``
    Leading/trailing whitespace is dropped and runs of *unquoted* whitespace
    (spaces, tabs, newlines between words) become one space. Whitespace inside
    quotes is kept. A multi-line command (an ``edit ... end_of_edit`` block, a
    heredoc) keeps its line structure: only trailing whitespace per line and
    at the end is dropped, because a newline there ends a shell command.
``N2 quoting``
    A word is re-quoted canonically (bare when it only has safe characters,
    else single quotes) when its quoted parts are literal: ``'a b'``,
    ``"a b"`` and ``a\\ b`` become ``'a b'``. A command is left with rule N1
    only if any word holds an expansion (``$``, backquote, an unquoted glob
    ``* ? [``, ``~``, ``{``, a backslash inside double quotes) because
    re-quoting would change what runs.
``N3 cd into the working directory``
    ``cd D && X`` becomes ``X`` when ``D`` is the known working directory
    (``AgentState.env["working_dir"]``): changing into the directory you are
    already in does nothing.
``N4 script path relative to the working directory``
    ``python D/F`` (also ``python3``) becomes ``python F`` when ``D`` is the
    working directory: the same file runs with the same cwd. With N3,
    ``cd /testbed && python reproduce.py`` and ``python /testbed/reproduce.py``
    are the same run when the agent is in ``/testbed``.

Nothing else is merged: ``python -m pytest`` and ``pytest`` differ (``sys.path``),
so do ``grep -rn`` and ``grep -nr`` (argument order is kept).
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache

__all__ = ["MATCHINGS", "NORMALIZATION_RULES", "normalize_command", "same_action", "whitespace_form"]

NORMALIZATION_RULES: tuple[str, ...] = (
    "N1 whitespace: strip; collapse unquoted whitespace runs; multi-line commands keep lines",
    "N2 quoting: literal words re-quoted canonically unless the command has an expansion",
    "N3 cd into the working directory: `cd D && X` -> `X` when D is the working directory",
    "N4 script path: `python D/F` -> `python F` when D is the working directory",
)

_OPERATORS = frozenset({"&&", "||", "|", ";", ">", ">>", "<", "2>&1", "&", "2>", "1>", "&>", "2>>"})
_EXPANSION_UNQUOTED = frozenset("$`*?[]~{}\\!#")
_META_UNQUOTED = frozenset("|&;<>()")
_EXPANSION_DOUBLE = frozenset("$`\\!")
_PYTHONS = frozenset({"python", "python3"})


class _NotLiteral(Exception):
    """A word holds an expansion; canonical re-quoting would change what runs."""


_SEGMENT = re.compile(r"""(\s+)|'([^']*)'|"([^"]*)"|([^\s'"]+)|(['"])""")


def _split_words(command: str) -> list[tuple[str, bool]] | None:
    """Split on unquoted whitespace into ``(literal_value, is_operator)`` words.

    Returns ``None`` when quotes are unbalanced. Raises :class:`_NotLiteral`
    when a word holds an expansion or a glued operator.
    """
    words: list[tuple[str, bool]] = []
    value: list[str] = []
    raw: list[str] = []
    has_meta = False

    def flush() -> None:
        nonlocal has_meta
        if raw:
            raw_word = "".join(raw)
            is_operator = raw_word in _OPERATORS
            if has_meta and not is_operator:
                # `a|b` or `x>y` glued to a word: operators, not literal text.
                raise _NotLiteral
            words.append(("".join(value), is_operator))
            value.clear()
            raw.clear()
        has_meta = False

    for m in _SEGMENT.finditer(command):
        space, single, double, bare, lone = m.groups()
        if space is not None:
            flush()
        elif single is not None:
            value.append(single)
            raw.append(m.group(0))
        elif double is not None:
            if _EXPANSION_DOUBLE.intersection(double):
                raise _NotLiteral
            value.append(double)
            raw.append(m.group(0))
        elif bare is not None:
            if _EXPANSION_UNQUOTED.intersection(bare):
                raise _NotLiteral
            has_meta = has_meta or bool(_META_UNQUOTED.intersection(bare))
            value.append(bare)
            raw.append(bare)
        elif lone is not None:
            return None  # an opening quote that never closes
    flush()
    return words


def _collapse_unquoted(command: str) -> str:
    """Rule N1 only: collapse unquoted whitespace runs, keep quoted text verbatim."""
    out: list[str] = []
    quote: str | None = None
    pending_space = False
    for ch in command.strip():
        if quote is None and ch in " \t\n":
            pending_space = True
            continue
        if pending_space and out:
            out.append(" ")
        pending_space = False
        out.append(ch)
        if quote is None and ch in "'\"":
            quote = ch
        elif quote is not None and ch == quote:
            quote = None
    return "".join(out)


def _strip_cd(words: list[str], cwd: str | None) -> list[str]:
    """Rule N3: drop a leading ``cd D &&`` when D is the working directory."""
    if cwd is None:
        return words
    while len(words) >= 3 and words[0] == "cd" and words[2] == "&&" and _same_dir(words[1], cwd):
        words = words[3:]
    return words


def _same_dir(path: str, cwd: str) -> bool:
    return path.rstrip("/") == cwd.rstrip("/") or path in {".", "./"}


def _relative_script(words: list[str], cwd: str | None) -> list[str]:
    """Rule N4: ``python D/F`` -> ``python F`` when D is the working directory."""
    if cwd is None or len(words) < 2 or words[0] not in _PYTHONS:
        return words
    prefix = cwd.rstrip("/") + "/"
    script = words[1]
    if script.startswith(prefix) and len(script) > len(prefix):
        return [words[0], script[len(prefix) :], *words[2:]]
    return words


def _render(word: str, is_operator: bool) -> str:
    return word if is_operator else shlex.quote(word)


@lru_cache(maxsize=65_536)
def normalize_command(command: str, cwd: str | None = None) -> str:
    """Return the canonical form of a shell-style command (rules N1-N4 above).

    Args:
        command: The command as the agent wrote it.
        cwd: The working directory the command runs in, when known; rules N3
            and N4 apply only with it.

    Returns:
        A string; two commands execute identically if their forms are equal
        (the converse need not hold: unknown equivalences are not merged).
    """
    stripped = command.strip()
    if "\n" in stripped:
        # A newline ends a shell command, so line structure is meaning (N1).
        return "\n".join(line.rstrip() for line in stripped.split("\n"))
    try:
        split = _split_words(stripped)
    except _NotLiteral:
        split = None
    if split is None:
        return _collapse_unquoted(stripped)
    values = [w for w, _ in split]
    operators = {i for i, (_, op) in enumerate(split) if op}
    # Rules N3/N4 work on values; operator positions are re-found afterwards.
    canon_values = _relative_script(_strip_cd(values, cwd), cwd)
    offset = len(values) - len(canon_values)
    rendered = []
    for k, value in enumerate(canon_values):
        original_index = k + offset
        is_op = original_index in operators if 0 <= original_index < len(values) else False
        rendered.append(_render(value, is_op))
    return " ".join(rendered)


def same_action(a: str, b: str, cwd: str | None = None) -> bool:
    """Whether two commands execute identically under the normalisation rules."""
    return normalize_command(a, cwd) == normalize_command(b, cwd)


@lru_cache(maxsize=65_536)
def whitespace_form(command: str, cwd: str | None = None) -> str:
    """The project's evaluation ruler (DESIGN §2): whitespace runs collapsed, nothing else.

    ``cwd`` is accepted for a uniform signature and ignored.
    """
    return " ".join(command.split())


MATCHINGS = {"whitespace": whitespace_form, "execution": normalize_command}
"""How a model compares commands: ``whitespace`` (what ``hive eval route`` scores, the
default) or ``execution`` (rules N1-N4 above: also merges quoting and ``cd`` into the
working directory)."""
