"""Speculative next actions: the read-only calls an agent is likely to make next (pure, no I/O).

While the model thinks, Hive can run the agent's probable next *read-only*
calls in the background and answer the real call from the tool-output cache
(:mod:`hive_middleware.pipeline.speculation`). This module only predicts:
:func:`predict_next` reads an :class:`~hive_middleware.types.AgentState` (the
goal, the earlier steps and their observations, env facts) and nothing else,
never the action about to be taken, and returns up to ``k`` distinct
candidate commands, best first. It is deterministic and cheap (tens of
microseconds a state: parsed steps are cached by their strings).

The rules, in the order their candidates are ranked (:data:`SPECULATION_RULES`):

``habit``
    Commands the router's habits propose for this state (passed in by the
    caller as ``proposals``; a live habit is proven in shadow mode).
``loop``
    Agents repeat themselves: what followed the earlier occurrences of the
    last two actions (most recent first), then of the last action.
``scroll``
    After a ranged editor view (``str_replace_editor view F --view_range A B``):
    the window moves this agent made earlier in the run (next start relative
    to the previous end, width change), most recent first, then the plain
    continuation ``B .. B + (B - A)``.
``listing``
    The files the latest search/find/list output names that were not viewed
    yet, the ones the goal mentions first, opened in the agent's own dialect
    (``str_replace_editor view /abs`` or ``open path``).
``traceback``
    The file and line the newest traceback frame names.
``after_edit``
    After an edit or create of F: re-run the latest test/reproduce command,
    re-run the latest search that names F, view F. After any other write (a
    tool-calling agent's side-effecting call): the read-only calls that
    followed the previous write.
``repeat``
    The most recent distinct read-only actions, as a filler.
``start``
    At the first step: view the directory the goal names.

Only candidates that pass the ``read_only`` predicate are returned: by default
the command's :func:`~hive_middleware.routing.action_types.action_type` is one
of :data:`READ_ONLY_ACTION_TYPES`. An integration passes its own predicate
(the tool is marked read-only); side-effecting calls are never proposed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from hive_middleware.errors import HiveValidationError
from hive_middleware.routing.action_types import action_type
from hive_middleware.routing.facts import StateFacts, state_facts
from hive_middleware.routing.normalize import whitespace_form
from hive_middleware.types import AgentState

__all__ = [
    "DEFAULT_SPECULATION_K",
    "READ_ONLY_ACTION_TYPES",
    "SPECULATION_RULES",
    "Prediction",
    "call_of_command",
    "is_read_only_action",
    "predict_next",
]

DEFAULT_SPECULATION_K = 3
"""Candidates pre-executed per step by default."""

READ_ONLY_ACTION_TYPES: tuple[str, ...] = ("view", "search", "find", "list", "run_test")
"""Action types treated as read-only for shell-style agents (and by ``hive eval speculate``)."""

SPECULATION_RULES: dict[str, str] = {
    "habit": "a command the router's habits propose for this state",
    "loop": "what followed earlier occurrences of the last two actions, then of the last action",
    "scroll": "the next window of a ranged view, moved the way this agent moved it before",
    "listing": "a file the latest search/find output names, not viewed yet, goal-mentioned first",
    "traceback": "the file and line of the newest traceback frame",
    "after_edit": "after a write: re-run the latest test, the search naming the file, view the file",
    "repeat": "a recent read-only action again",
    "start": "at the first step: view the directory the goal names",
}
"""The prediction rules, in rank order, with their meaning."""

_MAX_K = 16
_LOOP_PER_CONTEXT = 2
_LISTING_PER_STEP = 2
_LISTING_LOOKBACK = 3
_LISTING_SCAN_CHARS = 20_000
_LISTING_MAX_PATHS = 200
_REPEAT_MAX = 4
_SCROLL_LEARNED = 2
_TRACEBACK_CONTEXT = 10

_VIEW_RANGE = re.compile(r"^str_replace_editor view (\S+) --view_range (-?\d+) (-?\d+)$")
_ABS_PATH = re.compile(r"(?<![\w:/.@+-])(/[\w.@+-]+(?:/[\w.@+-]+)*/[\w@+-][\w.@+-]*\.\w+)(?![\w/])")
_REL_LINE_PATH = re.compile(r"^(\.?/?[\w@+-][\w.@+-]*(?:/[\w.@+-]+)*\.\w+)(?=:\d|\s*$)", re.MULTILINE)
_GOAL_DIR = re.compile(r"(?<![\w:/.])(/[\w.@+-]+(?:/[\w.@+-]+)*)/?(?=[\s<\"'`),.]|$)")
_CALL_SHAPE = re.compile(r"^([\w.-]+) (\{.*\})$", re.DOTALL)
_ACI_TOOLS = frozenset({"open", "goto", "scroll_up", "scroll_down", "search_file", "search_dir", "find_file"})
_LISTING_TYPES = frozenset({"search", "find", "list"})
_WRITE_TYPES = frozenset({"edit", "create"})
_EDIT_KINDS = frozenset({"edit", "create"})


@dataclass(frozen=True, slots=True)
class Prediction:
    """One candidate next action.

    Attributes:
        command: The action as the agent would write it (a shell command, or
            ``name {json}`` for a tool call, like
            :func:`~hive_middleware.pipeline.messages.action_of_call`).
        rule: The rule that proposed it (a key of :data:`SPECULATION_RULES`).
    """

    command: str
    rule: str


def is_read_only_action(command: str) -> bool:
    """Whether a shell-style command's type is one of :data:`READ_ONLY_ACTION_TYPES`."""
    return _cached_type(command) in READ_ONLY_ACTION_TYPES


@lru_cache(maxsize=65_536)
def _cached_type(command: str) -> str:
    return action_type(command)


@lru_cache(maxsize=65_536)
def _view_range(command: str) -> tuple[str, int, int] | None:
    m = _VIEW_RANGE.match(whitespace_form(command))
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


@lru_cache(maxsize=4_096)
def _listed_paths(observation: str, cwd: str | None) -> tuple[str, ...]:
    """Absolute file paths an output lists (absolute ones, and relative ones at line starts)."""
    head = observation[:_LISTING_SCAN_CHARS]
    found: dict[str, None] = {}
    for m in _ABS_PATH.finditer(head):
        found.setdefault(m.group(1), None)
        if len(found) >= _LISTING_MAX_PATHS:
            return tuple(found)
    if cwd:
        base = cwd.rstrip("/")
        for m in _REL_LINE_PATH.finditer(head):
            rel = m.group(1)
            rel = rel[2:] if rel.startswith("./") else rel
            if not rel.startswith("/"):
                found.setdefault(f"{base}/{rel}", None)
            if len(found) >= _LISTING_MAX_PATHS:
                break
    return tuple(found)


@lru_cache(maxsize=1_024)
def _goal_words(goal: str) -> tuple[str, frozenset[str]]:
    return goal.lower(), frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", goal))


def _mention_score(path: str, goal: str, cwd: str | None) -> int:
    """How strongly the goal points at ``path`` (module path, file stem), minus test/vendor files."""
    low, words = _goal_words(goal)
    name = path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    score = 0
    parts = [p for p in path.split("/") if p]
    if len(parts) > 2:
        dotted = ".".join(parts[1:]).rsplit(".", 1)[0]
        tail = dotted.split(".", 1)[-1]
        if "." in tail and tail in goal:
            score += 4
    if len(stem) > 2 and stem in words:
        score += 2
    if len(stem) > 2 and stem.lower() in low:
        score += 1
    if "/test" in path or stem.startswith("test_") or stem.endswith("_test"):
        score -= 1
    if "site-packages" in path or "dist-packages" in path or (cwd and not path.startswith(cwd.rstrip("/") + "/")):
        score -= 2
    return score


class _Ranked:
    """Distinct candidates in rank order, filtered by the read-only predicate."""

    def __init__(self, k: int, read_only: Callable[[str], bool]) -> None:
        self.k = k
        self.read_only = read_only
        self.out: list[Prediction] = []
        self._seen: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.out) >= self.k

    def add(self, rule: str, command: str | None) -> None:
        if command is None or self.full:
            return
        text = command.strip()
        if not text:
            return
        key = whitespace_form(text)
        if key in self._seen:
            return
        self._seen.add(key)
        if self.read_only(text):
            self.out.append(Prediction(text, rule))


def _dialect(facts: StateFacts, actions: Sequence[str]) -> str:
    if facts.dialect != "unknown":
        return facts.dialect
    for a in reversed(actions):
        first = a.split(None, 1)[:1]
        if first and first[0] in _ACI_TOOLS:
            return "aci"
    return "unknown"


def _view_file(path: str, dialect: str, facts: StateFacts, absolute_style: bool) -> str:
    # An agent that has not shown its dialect yet is assumed to have the editor tool (SWE-agent 1.x).
    if dialect == "aci":
        return f"open {path if absolute_style else _relative(path, facts.cwd)}"
    return f"str_replace_editor view {_absolute(path, facts.cwd)}"


def _absolute(path: str, cwd: str | None) -> str:
    if path.startswith("/") or not cwd:
        return path
    rel = path[2:] if path.startswith("./") else path
    return f"{cwd.rstrip('/')}/{rel}"


def _relative(path: str, cwd: str | None) -> str:
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1 :]
    return path


def _loop(ranked: _Ranked, actions: Sequence[str]) -> None:
    n = len(actions)
    if n >= 2:
        taken = 0
        for i in range(n - 2, 0, -1):
            if actions[i] == actions[-1] and actions[i - 1] == actions[-2]:
                ranked.add("loop", actions[i + 1])
                taken += 1
                if taken >= _LOOP_PER_CONTEXT:
                    break
    if n >= 1:
        taken = 0
        for i in range(n - 2, -1, -1):
            if actions[i] == actions[-1]:
                ranked.add("loop", actions[i + 1])
                taken += 1
                if taken >= _LOOP_PER_CONTEXT:
                    break


def _scroll(ranked: _Ranked, actions: Sequence[str]) -> None:
    last = _view_range(actions[-1]) if actions else None
    if last is None:
        return
    path, start, end = last
    if start <= 0 or end < start:
        return
    moves: list[tuple[int, int]] = []
    previous: tuple[str, int, int] | None = None
    for a in actions:
        current = _view_range(a)
        if current is not None and previous is not None and current[0] == previous[0]:
            move = (current[1] - previous[2], (current[2] - current[1]) - (previous[2] - previous[1]))
            if move in moves:
                moves.remove(move)
            moves.append(move)
        previous = current
    width = end - start
    for dx, dw in list(reversed(moves))[:_SCROLL_LEARNED]:
        new_start = end + dx
        if new_start >= 1 and width + dw >= 0:
            ranked.add("scroll", f"str_replace_editor view {path} --view_range {new_start} {new_start + width + dw}")
    ranked.add("scroll", f"str_replace_editor view {path} --view_range {end} {end + width}")


def _viewed_paths(actions: Sequence[str], cwd: str | None) -> set[str]:
    seen: set[str] = set()
    for a in actions:
        words = a.split()
        if len(words) > 2 and words[0] == "str_replace_editor" and words[1] == "view":
            seen.add(words[2])
        elif len(words) > 1 and words[0] == "open":
            seen.add(_absolute(words[1], cwd))
    return seen


def _listing(
    ranked: _Ranked, state: AgentState, actions: Sequence[str], facts: StateFacts, dialect: str,
    absolute_style: bool,
) -> None:
    history = state.history
    listed: tuple[str, ...] = ()
    for back in range(1, min(_LISTING_LOOKBACK, len(history)) + 1):
        kind = _cached_type(actions[-back])
        # An edit's output names the file it changed: that is no listing.
        if kind in _WRITE_TYPES or (back > 1 and kind not in _LISTING_TYPES):
            continue
        listed = _listed_paths(history[-back].observation, facts.cwd)
        if listed:
            break
    if not listed:
        return
    viewed = _viewed_paths(actions, facts.cwd)
    fresh = [p for p in listed if p not in viewed]
    order = {p: i for i, p in enumerate(fresh)}
    fresh.sort(key=lambda p: (-_mention_score(p, state.goal, facts.cwd), order[p]))
    for path in fresh[:_LISTING_PER_STEP]:
        ranked.add("listing", _view_file(path, dialect, facts, absolute_style))


def _traceback(ranked: _Ranked, facts: StateFacts, dialect: str, absolute_style: bool) -> None:
    if not facts.steps or not facts.steps[0].frames:
        return
    path, line = facts.steps[0].frames[0]
    if dialect == "aci":
        ranked.add("traceback", f"open {path if absolute_style else _relative(path, facts.cwd)} {line}")
    else:
        low = max(1, line - _TRACEBACK_CONTEXT)
        ranked.add("traceback", f"str_replace_editor view {_absolute(path, facts.cwd)} --view_range {low} "
                                f"{line + _TRACEBACK_CONTEXT}")


def _after_edit(
    ranked: _Ranked, actions: Sequence[str], facts: StateFacts, dialect: str, absolute_style: bool,
) -> None:
    if not facts.steps:
        return
    last = facts.steps[0]
    if last.kind in _EDIT_KINDS:
        tests = [r for r in facts.runs if _cached_type(r) == "run_test"]
        for run in (*tests[:1], *facts.runs[:1]):
            ranked.add("after_edit", run)
        touched = last.edited or last.created
        if touched:
            name = touched.rsplit("/", 1)[-1]
            for a in reversed(actions[:-1]):
                if _cached_type(a) == "search" and name in a:
                    ranked.add("after_edit", a)
                    break
            ranked.add("after_edit", _view_file(touched, dialect, facts, absolute_style))
        return
    if ranked.read_only(actions[-1]) or _cached_type(actions[-1]) in ("submit", "exit", "empty"):
        return
    # A write the taxonomy does not know (a tool call): the read-only calls that followed the previous write.
    for i in range(len(actions) - 2, -1, -1):
        if not ranked.read_only(actions[i]):
            j = i + 1
            while j < len(actions) - 1 and ranked.read_only(actions[j]):
                ranked.add("after_edit", actions[j])
                j += 1
            if j > i + 1:
                break


def _repeat(ranked: _Ranked, actions: Sequence[str]) -> None:
    taken = 0
    for a in reversed(actions[:-1]):
        before = len(ranked.out)
        ranked.add("repeat", a)
        taken += len(ranked.out) - before
        if taken >= _REPEAT_MAX or ranked.full:
            return


def _start(ranked: _Ranked, goal: str) -> None:
    m = _GOAL_DIR.search(goal)
    if m is None:
        return
    directory = m.group(1)
    ranked.add("start", f"str_replace_editor view {directory}")
    ranked.add("start", f"ls {directory}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= _MAX_K:
        raise HiveValidationError(
            f"k must be an int from 0 to {_MAX_K} (candidates pre-executed per step), got {k!r}", field="k"
        )


def predict_next(
    state: AgentState,
    k: int = DEFAULT_SPECULATION_K,
    *,
    read_only: Callable[[str], bool] | None = None,
    proposals: Iterable[str] = (),
) -> list[Prediction]:
    """Up to ``k`` distinct read-only candidates for the agent's next action, best first.

    Reads only ``state`` (goal, earlier steps, env): the same state gives the
    same list. The rules are described in the module docstring.

    Args:
        state: What the agent had before the step.
        k: How many candidates at most (0 to 16).
        read_only: Which commands may be pre-executed (default
            :func:`is_read_only_action`); others are never returned.
        proposals: Commands the router's habits propose for this state (ranked first).

    Returns:
        The candidates; fewer than ``k`` when the rules have no more.

    Raises:
        HiveValidationError: ``k`` is not an int from 0 to 16.
    """
    _check_k(k)
    ranked = _Ranked(k, read_only or is_read_only_action)
    if k == 0:
        return []
    for command in proposals:
        ranked.add("habit", command)
    if not state.history:
        _start(ranked, state.goal)
        return ranked.out
    actions = [whitespace_form(s.action) for s in state.history]
    facts = state_facts(state)
    dialect = _dialect(facts, actions)
    opens = [a.split()[1] for a in actions if a.startswith("open ") and len(a.split()) > 1]
    absolute_style = bool(opens) and opens[-1].startswith("/")
    _loop(ranked, actions)
    _scroll(ranked, actions)
    _listing(ranked, state, actions, facts, dialect, absolute_style)
    _traceback(ranked, facts, dialect, absolute_style)
    _after_edit(ranked, actions, facts, dialect, absolute_style)
    _repeat(ranked, actions)
    return ranked.out


def call_of_command(command: str, shell_tool: str) -> tuple[str, dict[str, object]]:
    """The ``(tool, arguments)`` of a predicted command: ``name {json}`` is a tool call, else a shell command.

    The inverse of :func:`~hive_middleware.pipeline.messages.action_of_call`.
    """
    m = _CALL_SHAPE.match(command.strip())
    if m is not None:
        try:
            parsed = json.loads(m.group(2))
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return m.group(1), parsed
    return shell_tool, {"command": command}
