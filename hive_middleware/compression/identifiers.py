"""Identifiers a coding agent refers back to: paths, ``file:line`` pointers, code symbols.

Compression keeps these visible: a distilled form or stub lists the identifiers
of its original that appear nowhere else in the compressed context, so an agent
can still name the file or symbol it saw earlier (and fetch the full text by
handle when it needs more).

What counts (all found with one pass of precompiled patterns):

* **paths**: a token with a ``/`` between name characters (``/testbed/a/b.py``,
  ``src/main/java/Foo.java``), and bare file names with an extension
  (``setup.py``); a trailing ``:line`` is kept as a separate ``file:line`` item;
* **symbols**: names that look like code rather than prose: at least three
  characters and containing an underscore, a digit after a letter, an inner
  capital (``camelCase``, ``HTTPServer``) or a dot between names
  (``np.linalg.norm``: the dotted name and its code-like parts).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["extract_identifiers", "scan_identifiers"]

_PATH = re.compile(r"(?<![\w/.\-])(?:\.{0,2}/)?(?:[\w@+\-][\w@+.\-]*/)+[\w@+\-][\w@+.\-]*(?::\d+)?")
_EXTENSIONS = (
    "py|pyi|pyx|pxd|ipynb|java|kt|kts|scala|groovy|gradle|js|jsx|mjs|cjs|ts|tsx|c|h|cc|cpp|cxx|hpp|hh|go|rs|rb"
    "|php|cs|swift|m|mm|sh|bash|zsh|ps1|bat|md|rst|txt|json|jsonl|yaml|yml|toml|cfg|ini|conf|xml|html|htm|css"
    "|scss|sql|properties|lock|csv|tsv|log|patch|diff|proto|graphql|vue|svelte|lua|pl|r|jl|ex|exs|erl|hs|ml"
    "|dart|tf|mk|cmake|in|env|dockerfile|traj"
)
_FILE = re.compile(rf"(?<![\w/.\-])[\w\-]+(?:\.[\w\-]+)*\.(?:{_EXTENSIONS})(?::\d+)?(?![\w/.])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_CODEISH = re.compile(r"_|[a-z][A-Z]|[A-Z]{2,}[a-z]|[A-Za-z]\d")
_MIN_SYMBOL = 3
_MIN_DOTTED_PART = 2  # "a.b" is usually prose or maths; "np.zeros" is an attribute access
_MAX_IDENTIFIER = 200  # longer "paths" are base64 blobs or minified data, not names anyone types


@lru_cache(maxsize=16_384)
def extract_identifiers(text: str) -> tuple[str, ...]:
    """Identifiers in ``text``, unique, in order of first appearance (cached by text).

    Args:
        text: Any message text.

    Returns:
        Paths, ``file:line`` pointers and code-like symbols (see the module doc).
    """
    return scan_identifiers(text)


def scan_identifiers(text: str) -> tuple[str, ...]:
    """:func:`extract_identifiers` without the cache (for one-off fragments such as single lines)."""
    seen: dict[str, None] = {}
    for m in _PATH.finditer(text):
        tok = m.group(0).rstrip(".")
        if len(tok) > _MAX_IDENTIFIER:
            continue
        seen[tok] = None
        base, sep, _line = tok.rpartition(":")
        if sep and _line.isdigit():
            seen[base] = None
    for m in _FILE.finditer(text):
        tok = m.group(0)
        base, sep, line = tok.rpartition(":")
        if sep and line.isdigit():
            seen[tok] = None
            tok = base
        seen[tok] = None
    for m in _WORD.finditer(text):
        tok = m.group(0)
        if len(tok) > _MAX_IDENTIFIER:
            continue
        if "." in tok:
            parts = tok.split(".")
            if all(parts) and max(len(p) for p in parts) >= _MIN_DOTTED_PART:
                seen[tok] = None
            for part in parts:
                if len(part) >= _MIN_SYMBOL and _CODEISH.search(part):
                    seen[part] = None
        elif len(tok) >= _MIN_SYMBOL and _CODEISH.search(tok):
            seen[tok] = None
    return tuple(seen)
