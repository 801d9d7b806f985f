"""Action types for shell-style agent commands: the closed taxonomy the router predicts.

The router's features and templates are keyed by these types, and ``hive eval
route`` scores ``type_top1`` with the same function, so the taxonomy lives in the
core beside the router and the evaluation imports it from here.

:func:`action_type` gives every command exactly one type from the closed set
:data:`ACTION_TYPES`. The rules, applied in order:

1. An empty (whitespace-only) command is ``empty`` (a run cut short).
2. Leading ``cd DIR`` commands joined by ``&&``, ``;`` or a newline are removed.
   A command that is only ``cd DIR`` is ``navigate``.
3. If the first word is a SWE-agent tool, the tool decides and the rest of the
   text is its argument (0.x ``edit`` blocks and 1.x ``--file_text`` span
   lines): ``open`` -> view; ``goto``, ``scroll_up``, ``scroll_down`` ->
   navigate; ``search_file``, ``search_dir`` -> search; ``find_file`` -> find;
   ``create`` -> create; ``edit`` -> edit; ``submit`` -> submit; ``exit``,
   ``exit_*`` (``exit_cost``, ``exit_context``, ``exit_format`` ...) -> exit;
   ``str_replace_editor``/``str_replace_based_edit_tool`` by sub-command:
   ``view`` -> view, ``create`` -> create, ``str_replace``/``insert``/
   ``undo_edit`` -> edit, anything else -> shell_other.
4. Otherwise the text is split, outside quotes and here-documents, into a chain
   of commands at ``&&``, ``||``, ``;`` and newlines; ``cd`` commands are
   dropped; the **last** command of the chain decides (the earlier ones prepare:
   ``pip install pytest && pytest x.py`` is a test run). Inside that command the
   **first** stage of a pipeline decides (later stages filter its output:
   ``find . -name x | grep y`` is a find).
5. A single command is typed by its program, after skipping ``VAR=value``
   assignments and the wrappers ``sudo``, ``env``, ``time``, ``timeout N``,
   ``nohup``, ``xvfb-run``:

   * run_test: ``pytest``, ``py.test``, ``tox``, ``nox``, ``nosetests``,
     ``python -m pytest|unittest|nose|nose2|tox``, ``python -m django test``,
     ``python runtests.py`` / ``tests/runtests.py``, ``python manage.py test``,
     ``mvn``/``mvnw``/``gradle``/``gradlew`` whose goals include ``test``
     (``verify``, ``check`` too), ``npm|yarn|pnpm test``, ``go test``,
     ``cargo test``, ``make test|check``, ``ctest``, ``java`` running a JUnit
     launcher (``org.junit.runner.JUnitCore``, ``junit-platform-console``), and
     shell scripts (``./x``, ``/abs/x``, ``bash x``, ``sh x``) whose file name
     is ``test``/``tests``/``run_test(s)``/``runtests`` optionally followed by
     ``_``, ``.`` or ``-`` and more (``./run_tests.sh``). A Python file is
     never a test run by its name alone: agents name their own scripts
     ``test_fix.py``; running one is run_script.
   * build: ``javac``, other ``mvn``/``gradle`` goals, ``make``, ``cmake``,
     ``cargo build``, ``go build``, package installs (``pip install``,
     ``python -m pip``, ``python setup.py``, ``apt``/``apt-get``, ``conda``,
     ``npm|yarn|pnpm install``).
   * run_script: an interpreter given a file, ``-c`` code, ``-m`` module or
     ``-`` (``python``, ``python3``, ``pythonX.Y``, ``node``, ``ruby``, ``perl``,
     ``java``, ``bash``/``sh`` with a file), and ``./path`` or ``/abs/path``
     executables not matched above.
   * view: ``cat``, ``head``, ``tail``, ``less``, ``more``, ``nl``, ``sed -n``
     (but ``cat``/``echo``/``printf`` writing with ``>`` is create, with ``>>``
     is edit).
   * edit: ``sed -i``, ``patch``, ``git apply``, ``git checkout -- FILE``/
     ``git restore`` (undo).
   * create: ``touch``, ``tee FILE``, ``cp``.
   * search: ``grep``, ``egrep``, ``fgrep``, ``rg``, ``ag``, ``ack``, ``git grep``.
   * find: ``find``, ``fd``, ``locate``, ``which``, ``whereis``.
   * list: ``ls``, ``tree``, ``pwd``, ``du``.
   * vcs: other ``git`` commands (``diff``, ``log``, ``show``, ``status``...).
   * submit / exit: as in rule 3 (also when reached here).
   * shell_other: everything else (``echo``, ``rm``, ``mv``, ``mkdir``,
     ``export``, prose the model sent as a command, ...).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

__all__ = ["ACTION_TYPES", "action_type"]

ACTION_TYPES: dict[str, str] = {
    "view": "read a file (open, str_replace_editor view, cat, head, sed -n ...)",
    "navigate": "move inside the open file or change directory (goto, scroll_*, cd)",
    "search": "search file contents (grep, rg, search_file, search_dir, git grep)",
    "find": "find files by name (find, find_file, locate, which)",
    "list": "list a directory (ls, tree, pwd, du)",
    "create": "create a file (create, str_replace_editor create, touch, cat > f)",
    "edit": "change a file (edit, str_replace, insert, undo_edit, sed -i, patch)",
    "run_test": "run a test runner (pytest, unittest, mvn test, runtests.py ...)",
    "run_script": "run a program or snippet (python x.py, python -c, java X, ./x)",
    "build": "compile or install (javac, mvn compile, make, pip install, apt-get)",
    "vcs": "version control other than search (git diff/log/show/status)",
    "submit": "submit the solution",
    "exit": "the run stopped (exit_cost, exit_context, exit_format ...)",
    "empty": "no command (a run cut short)",
    "shell_other": "any other shell command",
}
"""The closed set of action types, with a one-line meaning each."""

_TOOL_TYPES = {
    "open": "view",
    "goto": "navigate",
    "scroll_up": "navigate",
    "scroll_down": "navigate",
    "search_file": "search",
    "search_dir": "search",
    "find_file": "find",
    "create": "create",
    "edit": "edit",
    "submit": "submit",
    "exit": "exit",
}
_EDITOR_TOOLS = frozenset({"str_replace_editor", "str_replace_based_edit_tool"})
_EDITOR_SUBCOMMANDS = {
    "view": "view",
    "create": "create",
    "str_replace": "edit",
    "insert": "edit",
    "undo_edit": "edit",
}
_SIMPLE = {
    "grep": "search",
    "egrep": "search",
    "fgrep": "search",
    "rg": "search",
    "ag": "search",
    "ack": "search",
    "find": "find",
    "fd": "find",
    "locate": "find",
    "which": "find",
    "whereis": "find",
    "ls": "list",
    "tree": "list",
    "pwd": "list",
    "du": "list",
    "head": "view",
    "tail": "view",
    "less": "view",
    "more": "view",
    "nl": "view",
    "touch": "create",
    "tee": "create",
    "cp": "create",
    "patch": "edit",
    "pytest": "run_test",
    "py.test": "run_test",
    "tox": "run_test",
    "nox": "run_test",
    "nosetests": "run_test",
    "ctest": "run_test",
    "javac": "build",
    "cmake": "build",
    "apt": "build",
    "apt-get": "build",
    "conda": "build",
    "pip": "build",
    "pip3": "build",
    "submit": "submit",
}
_WRAPPERS = frozenset({"sudo", "env", "time", "nohup", "xvfb-run", "command", "exec"})
_BUILD_TOOLS = frozenset({"mvn", "mvnw", "gradle", "gradlew"})
_TEST_GOALS = frozenset({"test", "verify", "check"})
_JS_PM = frozenset({"npm", "yarn", "pnpm"})
_INTERPRETERS = frozenset({"node", "ruby", "perl", "java", "bash", "sh", "zsh", "php", "Rscript"})
_PYTHON_RE = re.compile(r"^python(\d+(\.\d+)?)?$")
_PY_TEST_MODULES = frozenset({"pytest", "unittest", "nose", "nose2", "tox"})
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_JUNIT_RUNNERS = frozenset({"org.junit.runner.JUnitCore", "org.junit.platform.console.ConsoleLauncher"})
_TEST_SCRIPT_RE = re.compile(r"^(run_?tests?|runtests|tests?)([_.\-].*)?$")


def _split_top_level(text: str) -> list[list[str]]:
    """Split a shell text into a chain of commands, each a list of pipeline stages.

    Separators are honoured only outside single/double quotes and backslash
    escapes; a here-document body (``<<WORD`` ... ``WORD``) stays in its command.
    """
    chain: list[list[str]] = []
    stages: list[str] = []
    buf: list[str] = []
    quote = ""
    heredoc: list[str] = []
    i, n = 0, len(text)

    def end_stage() -> None:
        stages.append("".join(buf).strip())
        buf.clear()

    def end_command() -> None:
        end_stage()
        kept = [s for s in stages if s]
        if kept:
            chain.append(kept)
        stages.clear()

    while i < n:
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = ""
            i += 1
            continue
        if ch == "\\" and i + 1 < n:
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch in "'\"":
            quote = ch
            buf.append(ch)
            i += 1
            continue
        if text.startswith("<<", i) and not text.startswith("<<<", i):
            match = re.match(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", text[i:])
            if match:
                heredoc.append(match.group(2))
                buf.append(match.group(0))
                i += len(match.group(0))
                continue
        if ch == "\n" and heredoc:
            # Keep the here-document body (up to its terminator line) in this command.
            delimiter = heredoc.pop(0)
            end = re.search(rf"^\s*{re.escape(delimiter)}\s*$", text[i + 1 :], flags=re.MULTILINE)
            stop = n if end is None else i + 1 + end.end()
            buf.append(text[i:stop])
            i = stop
            continue
        two = text[i : i + 2]
        if two in ("&&", "||"):
            end_command()
            i += 2
            continue
        if ch in ";\n":
            end_command()
            i += 1
            continue
        if ch == "|":
            end_stage()
            i += 1
            continue
        if ch == "&" and two != "&>" and (i == 0 or text[i - 1] not in "<>"):
            end_command()  # background job: the next command is separate
            i += 1
            continue
        buf.append(ch)
        i += 1
    end_command()
    return chain


def _words(stage: str) -> list[str]:
    try:
        return shlex.split(stage, comments=False, posix=True)
    except ValueError:
        return stage.split()


def _strip_wrappers(words: list[str]) -> list[str]:
    i = 0
    while i < len(words):
        w = words[i]
        if _ASSIGNMENT_RE.match(w):
            i += 1
        elif w in _WRAPPERS:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
        elif w == "timeout":
            i += 1
            while i < len(words) and (words[i].startswith("-") or words[i][:1].isdigit()):
                i += 1
        else:
            break
    return words[i:]


def _redirect(words: Sequence[str]) -> str | None:
    for w in words:
        if w == ">>" or (w.startswith(">>") and len(w) > 2):
            return "edit"
        if w == ">" or (w.startswith(">") and len(w) > 1 and not w.startswith(">&")):
            return "create"
    return None


def _python_type(args: Sequence[str]) -> str:
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-m" and i + 1 < len(args):
            module = args[i + 1]
            rest = args[i + 2 :]
            if module in _PY_TEST_MODULES or (module == "django" and rest[:1] == ["test"]):
                return "run_test"
            if module == "pip":
                return "build"
            return "run_script"
        if a == "-c" or a == "-":
            return "run_script"
        if a in ("-X", "-W", "-Q"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        name = a.rsplit("/", 1)[-1]
        if name == "runtests.py" or (name == "manage.py" and "test" in args[i + 1 : i + 2]):
            return "run_test"
        if name == "setup.py":
            return "build"
        return "run_script"
    return "shell_other"  # a bare interpreter: interactive, not a script run


def _editor_type(words: Sequence[str]) -> str:
    sub = words[1] if len(words) > 1 else ""
    return _EDITOR_SUBCOMMANDS.get(sub, "shell_other")


def _tool_type(first: str, words: Sequence[str]) -> str | None:
    if first in _EDITOR_TOOLS:
        return _editor_type(words)
    if first.startswith("exit_"):
        return "exit"
    return _TOOL_TYPES.get(first)


def _command_type(stage: str) -> str:
    words = _strip_wrappers(_words(stage))
    if not words:
        return "shell_other"
    prog = words[0]
    base = prog.rsplit("/", 1)[-1]
    args = words[1:]
    tool = _tool_type(prog, words)
    if tool is not None:
        return tool
    if base in ("cat", "echo", "printf"):
        written = _redirect(args)
        if written:
            return written
        return "view" if base == "cat" and args else "shell_other"
    if base == "sed":
        if any(a == "-i" or a.startswith("-i") or a == "--in-place" for a in args):
            return "edit"
        return "view" if "-n" in args else "shell_other"
    if base == "git":
        sub = args[0] if args else ""
        if sub == "grep":
            return "search"
        if sub == "apply" or sub == "restore" or (sub == "checkout" and "--" in args):
            return "edit"
        return "vcs"
    if _PYTHON_RE.match(base):
        return _python_type(args)
    if base in _BUILD_TOOLS:
        goals = {a.split(":")[-1] for a in args if not a.startswith("-")}
        return "run_test" if goals & _TEST_GOALS else "build"
    if base in _JS_PM:
        sub = args[0] if args else ""
        if sub == "test" or (sub == "run" and len(args) > 1 and args[1].startswith("test")):
            return "run_test"
        return "build" if sub in ("install", "ci", "add", "i") else "run_script"
    if base in ("go", "cargo"):
        sub = args[0] if args else ""
        return (
            "run_test" if sub == "test" else "build" if sub in ("build", "install", "get") else "run_script"
        )
    if base == "make":
        return "run_test" if any(a in ("test", "check", "tests") for a in args) else "build"
    if base in _INTERPRETERS:
        files = [a for a in args if not a.startswith("-")]
        if base in ("bash", "sh", "zsh") and not files:
            return "shell_other"
        if base == "java" and not files:
            return "shell_other"  # e.g. ``java -version``
        if base == "java" and any(a in _JUNIT_RUNNERS or "junit-platform-console" in a for a in args):
            return "run_test"
        shell_script = base in ("bash", "sh", "zsh")
        if shell_script and _TEST_SCRIPT_RE.match(files[0].rsplit("/", 1)[-1]):
            return "run_test"
        return "run_script"
    if base in _SIMPLE:
        return _SIMPLE[base]
    if prog.startswith(("./", "/", "../")):
        return "run_test" if _TEST_SCRIPT_RE.match(base) else "run_script"
    return "shell_other"


_LEADING_CD_RE = re.compile(r"^\s*cd(\s+[^\s;&|\n]+)?\s*(&&|;|\n)\s*")


def action_type(command: str) -> str:
    """The type of an agent command, one of :data:`ACTION_TYPES` (rules in the module docstring).

    Args:
        command: The exact command the agent ran (SWE-agent 0.x or 1.x).

    Returns:
        The type name.
    """
    text = command.strip()
    if not text:
        return "empty"
    while True:
        match = _LEADING_CD_RE.match(text)
        if not match:
            break
        text = text[match.end() :]
    if not text.strip():
        return "navigate"
    first_line = text.split("\n", 1)[0]
    first = first_line.split(None, 1)[0] if first_line.strip() else ""
    tool = _tool_type(first, first_line.split()) if first else None
    if tool is not None:
        return tool
    chain = _split_top_level(text)
    commands = [stages for stages in chain if _words(stages[0])[:1] != ["cd"]]
    if not commands:
        return "navigate"
    return _command_type(commands[-1][0])
