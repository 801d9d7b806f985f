"""Facts the router derives from an agent state: what each past step did and showed.

Everything here reads only :class:`~hive_middleware.types.AgentState` (goal,
earlier steps, env). Per-step facts are cached by the step's strings, so an
agent loop that routes at every step parses each observation once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from hive_middleware.types import AgentState, Step

__all__ = [
    "ACTION_KINDS",
    "OBS_SIGNALS",
    "StateFacts",
    "StepFacts",
    "action_kind",
    "state_facts",
    "step_facts",
]

# Coarse kinds of past actions, used by features and by the fillers.
ACTION_KINDS: tuple[str, ...] = (
    "empty",
    "view",  # str_replace_editor view, cat
    "open",  # 0.x open
    "goto",
    "scroll",
    "search",  # grep, search_file, search_dir, rg
    "find",  # find, find_file, ls
    "create",
    "edit",  # str_replace / insert / edit N:M / undo
    "run",  # python x.py, java, bash x.sh
    "test",  # pytest, tox, mvn test, gradle test, runtests
    "build",  # javac, mvn compile, gradle build, pip install
    "submit",
    "git",
    "rm",
    "other",
)
_KIND_INDEX = {k: i for i, k in enumerate(ACTION_KINDS)}

OBS_SIGNALS: tuple[str, ...] = (
    "empty",
    "traceback",
    "error",
    "tests_failed",
    "tests_passed",
    "file_created",
    "file_edited",
    "no_matches",
    "has_hits",
    "has_line_hits",
    "not_found",
    "syntax_error",
    "long",
    "success_word",
    "command_not_found",
    "view_listing",
    "edit_failed",
)

_PY_RUN = re.compile(r"^(?:cd\s+\S+\s*&&\s*)?(?:python3?|bash|sh|node|java|ruby|go\s+run|\./\S+)\b")
_TEST_WORDS = re.compile(
    r"\b(?:pytest|unittest|tox|runtests|mvn\s+(?:-\S+\s+)*test|gradlew?\s+test|nosetests|test_\w+\.py|tests?/)"
)
_BUILD_WORDS = re.compile(
    r"^(?:cd\s+\S+\s*&&\s*)?(?:javac|mvn|\./mvnw|gradle|\./gradlew|pip|make|npm|cargo|go\s+build)\b"
)
_SEARCH = re.compile(r"^(?:cd\s+\S+\s*&&\s*)?(?:grep|rg|ag|search_file|search_dir|git\s+grep)\b")
_FIND = re.compile(r"^(?:cd\s+\S+\s*&&\s*)?(?:find|find_file|ls|tree)\b")

_TRACEBACK_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_GREP_LINE = re.compile(r"^(/?[\w./-]+\.\w+):(\d+)[:-]", re.M)
_BARE_NUM = re.compile(r"^(\d+)[:-]", re.M)
_LINE_HIT = re.compile(r"^Line (\d+):", re.M)
_SEARCH_FILE_HEAD = re.compile(r'^Found \d+ matches for ".*?" in (\S+?):?$', re.M)
_PATH_LINE = re.compile(r"^(/[\w.@+-]+(?:/[\w.@+-]+)+)(?: \(\d+ matches\))?$", re.M)
_CREATED = re.compile(r"File created successfully at: (\S+)")
_EDITED = re.compile(r"The file (\S+) has been edited")
_ACI_FILE = re.compile(r"^\[File: (\S+) \((\d+) lines total\)\]", re.M)
_NO_MATCH_WORDS = ("no matches found", "did not match any", "no such file")
_NOT_FOUND_WORDS = ("no such file or directory", "not found", "does not exist", "cannot find")
_SYNTAX_WORDS = ("syntaxerror", "syntax error", "e999", "compilation error", "error: ")
_EDIT_FAILED_WORDS = (
    "no replacement was performed",
    "did not appear verbatim",
    "your proposed edit has introduced",
)
_SUCCESS_WORDS = ("success", "passed", "fixed", "works", "all tests")

_VIEW_SRE = re.compile(r"^str_replace_editor view (\S+)(?:\s+--view_range (-?\d+) (-?\d+))?\s*$")
_CREATE_SRE = re.compile(r"^str_replace_editor create (\S+)")
_EDIT_SRE = re.compile(r"^str_replace_editor (?:str_replace|insert|undo_edit) (\S+)")
_CREATE_ACI = re.compile(r"^create (\S+)\s*$")
_OPEN_ACI = re.compile(r"^open (\S+)(?:\s+(\d+))?\s*$")

_HEAD_CHARS = 3_000  # observations are scanned this far from the start for hits
_SIGNAL_CHARS = 1_200  # signals are read from this much of the head and of the tail
_MAX_HITS = 8


def action_kind(action: str) -> str:
    """The coarse kind of an action string (one of :data:`ACTION_KINDS`)."""
    a = action.strip()
    if not a:
        return "empty"
    first = a.split(None, 1)[0]
    if first == "str_replace_editor":
        sub = a.split(None, 2)[1] if len(a.split(None, 2)) > 1 else ""
        return {"view": "view", "create": "create"}.get(sub, "edit")
    if first in {"submit", "exit_cost", "exit_forfeit"}:
        return "submit"
    if first == "open":
        return "open"
    if first == "goto":
        return "goto"
    if first in {"scroll_down", "scroll_up"}:
        return "scroll"
    if first == "create":
        return "create"
    if first == "edit":
        return "edit"
    if first in {"cat", "head", "tail", "sed", "nl"} and "-i" not in a.split():
        return "view"
    if first == "rm":
        return "rm"
    if first == "git" and not a.startswith("git grep"):
        return "git"
    if _SEARCH.match(a):
        return "search"
    if _FIND.match(a):
        return "find"
    if _TEST_WORDS.search(a.split("\n", 1)[0]):
        return "test"
    if _BUILD_WORDS.match(a):
        return "build"
    if _PY_RUN.match(a):
        return "run"
    return "other"


@dataclass(frozen=True, slots=True)
class StepFacts:
    """What one past step did and what its observation showed.

    Attributes:
        kind: :func:`action_kind` of the action.
        kind_index: Position of ``kind`` in :data:`ACTION_KINDS`.
        is_run: The action executes code (run, test or build).
        created: Path of a file the action created (as written), if any.
        edited: Path of a file the action edited, if any.
        viewed: ``(path, start, end)`` of an editor view (``start``/``end`` -1 when whole file).
        signals: Names from :data:`OBS_SIGNALS` that hold for the observation.
        hits: File paths the observation lists (search/find results), in order.
        line_hits: ``(path, line)`` pairs from ``grep -n``-style output, in order.
        bare_lines: Line numbers from ``search_file``-style output (``Line N:``).
        frames: ``(path, line)`` traceback frames, innermost first.
        aci_file: The file an 0.x observation header names (``[File: p (n lines total)]``).
        stripped: The action without surrounding whitespace.
        dialect: ``"sre"``, ``"aci"`` or ``""``: which tool dialect the action shows.
        rm_targets: Arguments of an ``rm`` action.
        shown: For a file view, what the observation showed (:func:`_shown`):
            ``"dir"``, ``"abridged"``, ``"file"``, ``"range"``, ``"window"``
            (an editor window with more lines below), ``"window_end"``, or
            ``""`` (not a view, or nothing recognisable).
    """

    kind: str
    kind_index: int
    is_run: bool
    created: str | None
    edited: str | None
    viewed: tuple[str, int, int] | None
    signals: frozenset[str]
    hits: tuple[str, ...]
    line_hits: tuple[tuple[str, int], ...]
    bare_lines: tuple[int, ...]
    frames: tuple[tuple[str, int], ...]
    aci_file: str | None
    stripped: str
    dialect: str
    rm_targets: tuple[str, ...]
    shown: str = ""


_READ_KINDS = frozenset({"view", "open", "goto", "scroll"})


def _shown(kind: str, viewed: tuple[str, int, int] | None, head: str, obs: str) -> str:
    """What a file view showed: a folder listing, an abridged large file, a whole file, a line range,
    or an editor window that has (``window``) or has not (``window_end``) more lines below."""
    if kind not in _READ_KINDS:
        return ""
    start = head[:300]
    if "files and directories" in start:
        return "dir"
    if "too large to display" in start:
        return "abridged"
    if start.startswith("[File:"):
        return "window" if "more lines below)" in obs[-300:] else "window_end"
    if viewed is not None and viewed[1] > 0:
        return "range"
    return "file" if "result of running `cat -n`" in start else ""


def _dedup(items: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for it in items:
        seen.setdefault(it, None)
        if len(seen) >= _MAX_HITS:
            break
    return tuple(seen)


def _signals(action: str, obs: str, kind: str) -> frozenset[str]:
    # Plain substring tests on lower-cased text: case-insensitive regexes cost ~100 us each here.
    # The word lists above are spelled out as `in` chains: a generator per list costs more than
    # the scans themselves on these short texts (a test checks the chains against the lists).
    head = obs[:_SIGNAL_CHARS]
    tail = obs[-_SIGNAL_CHARS:] if len(obs) > _SIGNAL_CHARS else ""
    text = head + tail
    low = text.lower()
    start = low[:400]
    out: set[str] = set()
    blank = not obs.strip()
    if blank:
        out.add("empty")
    if "Traceback (most recent call last)" in text or "\tat " in text or "Exception in thread" in text:
        out.add("traceback")
    if "error" in low or "exception" in low:
        out.add("error")
    if " failed" in low or "failures" in low or "build failure" in low or "assertionerror" in low:
        out.add("tests_failed")
    if " passed" in low or "ok (" in low or "build success" in low or "failures: 0" in low:
        out.add("tests_passed")
    if "created successfully" in head or (kind == "create" and "[File:" in head):
        out.add("file_created")
    if "has been edited" in head or (kind == "edit" and "[File:" in head):
        out.add("file_edited")
    if (kind == "search" or kind == "find") and (
        blank or "no matches found" in start or "did not match any" in start or "no such file" in start
    ):
        out.add("no_matches")
    if (
        "no such file or directory" in start
        or "not found" in start
        or "does not exist" in start
        or "cannot find" in start
    ):
        out.add("not_found")
    if (
        "syntaxerror" in low
        or "syntax error" in low
        or "e999" in low
        or "compilation error" in low
        or "error: " in low
    ):
        out.add("syntax_error")
    if len(obs) > 4_000:
        out.add("long")
    if "success" in low or "passed" in low or "fixed" in low or "works" in low or "all tests" in low:
        out.add("success_word")
    if "command not found" in head:
        out.add("command_not_found")
    if "result of running `cat -n`" in head or head.startswith("[File:"):
        out.add("view_listing")
    if (
        "no replacement was performed" in start
        or "did not appear verbatim" in start
        or "your proposed edit has introduced" in start
    ):
        out.add("edit_failed")
    return frozenset(out)


@lru_cache(maxsize=32_768)
def _parse(action: str, obs: str) -> StepFacts:
    a = action.strip()
    kind = action_kind(a)
    head = obs[:_HEAD_CHARS].replace("\r", "")
    created = edited = None
    viewed: tuple[str, int, int] | None = None
    m = _CREATE_SRE.match(a) or _CREATE_ACI.match(a)
    if m:
        created = m.group(1)
    m = _EDIT_SRE.match(a)
    if m:
        edited = m.group(1)
    m = _VIEW_SRE.match(a)
    if m:
        viewed = (m.group(1), int(m.group(2) or -1), int(m.group(3) or -1))
    m = _OPEN_ACI.match(a)
    if m:
        viewed = (m.group(1), int(m.group(2) or -1), -1)
    aci = _ACI_FILE.search(head[:300])
    aci_file = aci.group(1) if aci else None
    if kind == "edit" and edited is None and aci_file:
        edited = aci_file
    line_hits: list[tuple[str, int]] = []
    hits: list[str] = []
    bare: list[int] = []
    frames: list[tuple[str, int]] = []
    signals = _signals(a, obs, kind)
    if kind in {"search", "find"}:
        for gm in _GREP_LINE.finditer(head):
            line_hits.append((gm.group(1), int(gm.group(2))))
            if len(line_hits) >= _MAX_HITS:
                break
        hits.extend(p for p, _ in line_hits)
        hits.extend(pm.group(1) for pm in _PATH_LINE.finditer(head))
        bare = [int(x) for x in _LINE_HIT.findall(head)[:_MAX_HITS]]
        if not bare and not line_hits and a.startswith("grep") and "-n" in a:
            # grep -n on a single file prints "N:text" with no path: the file is the last word.
            bare = [int(x) for x in _BARE_NUM.findall(head)[:_MAX_HITS]]
            target = a.split()[-1]
            if bare and "." in target.rsplit("/", 1)[-1] and not any(c in target for c in "*?'\""):
                line_hits.extend((target, n) for n in bare)
        sf = _SEARCH_FILE_HEAD.search(head[:400])
        if sf and bare:
            line_hits.extend((sf.group(1), n) for n in bare)
    if "traceback" in signals:
        found = _TRACEBACK_FRAME.findall(obs[-_HEAD_CHARS * 2 :])
        frames = [
            (p, int(n)) for p, n in reversed(found) if "site-packages" not in p and not p.startswith("<")
        ]
    if hits or line_hits or bare:
        signals = signals | {"has_hits"}
    if line_hits or bare:
        signals = signals | {"has_line_hits"}
    return StepFacts(
        kind=kind,
        kind_index=_KIND_INDEX[kind],
        is_run=kind in {"run", "test", "build"},
        created=created,
        edited=edited,
        viewed=viewed,
        signals=signals,
        hits=_dedup(hits),
        line_hits=tuple(dict.fromkeys(line_hits))[:_MAX_HITS],
        bare_lines=tuple(dict.fromkeys(bare))[:_MAX_HITS],
        frames=tuple(dict.fromkeys(frames))[:_MAX_HITS],
        aci_file=aci_file,
        stripped=a,
        dialect=_dialect(a),
        rm_targets=tuple(a.split()[1:]) if kind == "rm" else (),
        shown=_shown(kind, viewed, head, obs),
    )


def _dialect(a: str) -> str:
    if a.startswith(_SRE_HINT):
        return "sre"
    first = a.split(None, 1)[:1]
    if (first and first[0] in _ACI_FIRST) or a.startswith("edit ") or a.startswith("create "):
        return "aci"
    return ""


def step_facts(step: Step) -> StepFacts:
    """The (cached) facts of one past step."""
    return _parse(step.action, step.observation)


@dataclass(frozen=True, slots=True)
class StateFacts:
    """Facts about the whole state that the fillers and features use.

    Attributes:
        steps: Facts of the most recent steps, newest first (at most ``window``).
        dialect: ``"sre"`` (str_replace_editor seen), ``"aci"`` (open/goto/edit N:M
            seen) or ``"unknown"``.
        cwd: The working directory, when known.
        open_file: The open file (0.x), when known.
        runs: Distinct earlier run/test/build commands, newest first (as written).
        created: Files created earlier, newest first (as written in the command).
        removed: Normalised texts of earlier ``rm`` targets.
        edits_since_run: Edits since the last run/test/build command.
        last_edited: The file most recently edited or created.
        last_view: The most recent editor view ``(path, start, end)``.
        past_actions: Stripped texts of the recent earlier actions.
        last_action: The previous action, stripped ("" at the first step).
        second_action: The action before that, stripped ("" if none).
        n_steps: Number of earlier steps.
        last_run_signals: Observation signals of the most recent run/test/build step.
        edited_own_script: The latest edit was to a file the agent created (its
            own script) rather than to the repository.
        edited_run_target: The latest edited file is named in the latest run command.
    """

    steps: tuple[StepFacts, ...]
    dialect: str
    cwd: str | None
    open_file: str | None
    runs: tuple[str, ...]
    created: tuple[str, ...]
    removed: frozenset[str]
    edits_since_run: int
    last_edited: str | None
    last_view: tuple[str, int, int] | None
    past_actions: frozenset[str]
    last_action: str
    second_action: str
    n_steps: int
    last_run_signals: frozenset[str]
    edited_own_script: bool
    edited_run_target: bool


_WINDOW = 32  # how far back the fillers look; older steps matter little
_SRE_HINT = "str_replace_editor"
_ACI_FIRST = frozenset({"open", "goto", "scroll_down", "scroll_up", "search_file", "search_dir", "find_file"})
_EDIT_KINDS = frozenset({"edit", "create"})


def state_facts(state: AgentState) -> StateFacts:
    """Derive :class:`StateFacts` from a state (reads only the state)."""
    history = state.history
    recent = history[-_WINDOW:]
    facts = [step_facts(s) for s in reversed(recent)]
    dialect = "unknown"
    runs: list[str] = []
    created: list[str] = []
    removed: set[str] = set()
    edits_since_run = 0
    counting_edits = True
    last_edited: str | None = None
    last_view: tuple[str, int, int] | None = None
    last_run_signals: frozenset[str] | None = None
    for f in facts:
        a = f.stripped
        if dialect == "unknown" and f.dialect:
            dialect = f.dialect
        if f.is_run:
            if last_run_signals is None:
                last_run_signals = f.signals
            counting_edits = False
            if a not in runs and len(runs) < 4 and "\n" not in a:
                runs.append(a)
        elif counting_edits and f.kind in _EDIT_KINDS:
            edits_since_run += 1
        if f.created and f.created not in created and len(created) < 4:
            created.append(f.created)
        if last_edited is None and (f.edited or f.created):
            last_edited = f.edited or f.created
        if last_view is None and f.viewed is not None:
            last_view = f.viewed
        if f.rm_targets:
            removed.update(f.rm_targets)
    env = state.env
    return StateFacts(
        steps=tuple(facts),
        dialect=dialect,
        cwd=env.get("working_dir") or None,
        open_file=env.get("open_file") or None,
        runs=tuple(runs),
        created=tuple(created),
        removed=frozenset(removed),
        edits_since_run=edits_since_run,
        last_edited=last_edited,
        last_view=last_view,
        past_actions=frozenset(f.stripped for f in facts),
        last_action=facts[0].stripped if facts else "",
        second_action=facts[1].stripped if len(facts) > 1 else "",
        n_steps=len(history),
        last_run_signals=last_run_signals or frozenset(),
        edited_own_script=last_edited is not None and last_edited in created,
        edited_run_target=bool(last_edited and runs and last_edited.rsplit("/", 1)[-1] in runs[0]),
    )
