"""Tool vocabularies of common agents: which kind of output a tool name promises.

Outputs are classified by what they print (:mod:`.content_types`); the tool's
name only settles what the text alone leaves open. A file read without line
numbers (LangChain ``read_file``) reads like plain command output, and a
directory listing of bare names (``list_directory``, ``LS``) like anything; their
names say they are a file view and search results. Names known here:

* SWE-agent: ``open``, ``goto``, ``scroll_up``/``scroll_down``, ``find_file``,
  ``search_file``, ``search_dir``, ``str_replace_editor``, ``bash``;
* OpenHands: ``execute_bash``, ``str_replace_editor``, ``execute_ipython_cell``, ``browser``;
* Claude-Code-style: ``Read``, ``Edit``/``MultiEdit``/``Write``, ``Grep``, ``Glob``,
  ``LS``, ``Bash``, ``WebFetch``;
* LangChain community tools: ``terminal`` (shell), ``read_file``, ``write_file``,
  ``list_directory``, ``file_search``, ``Python_REPL``/``python_repl_ast``;
* Codex-style ``shell`` (``bash -lc "..."``), ``exec_command``, MCP-prefixed
  names (``mcp__fs__read_file``) and dotted ones (``functions.bash``).

Unknown names give :attr:`ToolKind.UNKNOWN`: classification then uses the
content alone. The name of a tool output comes from its message's ``name`` or
from the assistant tool call with the matching id (:func:`output_tool_names`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any

__all__ = ["ToolKind", "output_tool_names", "tool_kind"]


class ToolKind(StrEnum):
    """What a tool's output is, as far as its name tells."""

    READ = "read"  # prints (part of) a file
    SEARCH = "search"  # prints paths, path:line hits or directory entries
    EDIT = "edit"  # prints a confirmation or an edited snippet
    SHELL = "shell"  # prints whatever the command prints
    PYTHON = "python"  # prints what the code prints, or its exception
    BROWSER = "browser"  # prints a web page (text, accessibility tree)
    UNKNOWN = ""


_KINDS: dict[str, ToolKind] = {}
for _kind, _names in {
    ToolKind.READ: "open goto scroll_up scroll_down read read_file readfile view_file open_file fs_read "
    "read_text_file notebookread notebook_read cat get_file_contents",
    ToolKind.SEARCH: "grep glob ls list_directory list_dir list_files file_search find_file search_file search_dir "
    "search_files find rg ripgrep grep_search file_glob_search codebase_search directory_tree",
    ToolKind.EDIT: "edit multiedit multi_edit write write_file create_file edit_file apply_patch insert "
    "notebookedit copy_file move_file file_delete",
    ToolKind.SHELL: "bash execute_bash shell terminal run_shell_command execute_command run_terminal_cmd "
    "exec_command local_shell sh run_command container_exec",
    ToolKind.PYTHON: "python python_repl python_repl_ast execute_ipython_cell ipython jupyter run_python "
    "code_interpreter",
    ToolKind.BROWSER: "browser browse web_browser webfetch web_fetch fetch websearch web_search browser_use "
    "navigate",
}.items():
    for _name in _names.split():
        _KINDS[_name] = _kind

_SEPARATORS = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=1_024)
def tool_kind(name: str | None) -> ToolKind:
    """The kind of output a tool name promises (``UNKNOWN`` when the name is not known).

    Matching ignores case and punctuation (``Python_REPL`` = ``python-repl``) and
    prefixes such as ``mcp__server__`` or ``functions.``.
    """
    if not name:
        return ToolKind.UNKNOWN
    lowered = name.strip().lower()
    for candidate in (lowered, lowered.rsplit("__", 1)[-1], lowered.rsplit(".", 1)[-1]):
        key = _SEPARATORS.sub("_", candidate).strip("_")
        kind = _KINDS.get(key)
        if kind is not None:
            return kind
    return ToolKind.UNKNOWN


def output_tool_names(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """For each message, the name of the tool whose output it is (``""`` when none).

    A ``tool``/``function`` message's own ``name`` wins; else the name of the
    assistant tool call with the same id.
    """
    calls: dict[str, str] = {}
    out: list[str] = []
    for msg in messages:
        role = msg.get("role")
        if role == "assistant":
            for call in msg.get("tool_calls") or ():
                if isinstance(call, Mapping):
                    fn = call.get("function")
                    if isinstance(fn, Mapping) and isinstance(call.get("id"), str):
                        calls[call["id"]] = str(fn.get("name", ""))
            out.append("")
        elif role in ("tool", "function"):
            name = msg.get("name")
            out.append(str(name) if isinstance(name, str) and name else calls.get(str(msg.get("tool_call_id")), ""))
        else:
            out.append("")
    return out
