"""Action templates: a source of arguments in the state, a renderer, and a rank.

A template is ``source:renderer:k``: take the ``k``-th candidate of a *source*
(earlier run commands, files created, the files/lines the latest search or
traceback names, the latest editor view window...) and render it as a command
(``python F``, ``str_replace_editor view F --view_range A B``, ``open F N``,
``goto N``, ``rm F``...). ``const`` templates are whole commands that recur
across runs (``submit``, ``scroll_down``). Fillers read only
:class:`~hive_middleware.routing.facts.StateFacts`; a template whose source has
fewer than ``k`` candidates is *unfillable* and never answers.

Which templates exist is mined from training trajectories
(:func:`mine_templates`): every candidate is tried on every training step and
kept when it reproduces the agent's action exactly (under the model's
matching, :data:`~hive_middleware.routing.normalize.MATCHINGS`) in enough
distinct runs. Mined numeric arguments (view-range offsets) are part of the
template name.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hive_middleware.errors import HiveModelFileError
from hive_middleware.routing.facts import StateFacts
from hive_middleware.routing.normalize import MATCHINGS

__all__ = [
    "SOURCES",
    "Template",
    "TemplateSet",
    "mine_templates",
    "parse_template",
]

Arg = tuple[str, int, int]  # (path-or-command, line-or-start, end); unused parts are 0

_MAX_K = 3
_FILL_CACHE = 65_536  # rendered commands kept per template set (cleared when full)


def _abs(path: str, cwd: str | None) -> str:
    if path.startswith("/") or not cwd:
        return path
    rel = path[2:] if path.startswith("./") else path
    return cwd.rstrip("/") + "/" + rel


def _rel(path: str, cwd: str | None) -> str:
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1 :]
    return path


# ---- sources: state -> ordered candidate arguments -------------------------------------------


def _src_last(f: StateFacts) -> list[Arg]:
    return [(f.last_action, 0, 0)] if f.last_action else []


def _src_runs(f: StateFacts) -> list[Arg]:
    return [(r, 0, 0) for r in f.runs]


def _created(ext: tuple[str, ...]) -> Callable[[StateFacts], list[Arg]]:
    def source(f: StateFacts) -> list[Arg]:
        return [(c, 0, 0) for c in f.created if c.endswith(ext)]

    return source


def _src_created_live(f: StateFacts) -> list[Arg]:
    return [(c, 0, 0) for c in f.created if c not in f.removed and _abs(c, f.cwd) not in f.removed]


def _src_hits(f: StateFacts) -> list[Arg]:
    return [(h, 0, 0) for h in f.steps[0].hits] if f.steps else []


def _src_line_hits(f: StateFacts) -> list[Arg]:
    return [(p, n, 0) for p, n in f.steps[0].line_hits] if f.steps else []


def _src_bare_lines(f: StateFacts) -> list[Arg]:
    return [("", n, 0) for n in f.steps[0].bare_lines] if f.steps else []


def _src_frames(f: StateFacts) -> list[Arg]:
    return [(p, n, 0) for p, n in f.steps[0].frames] if f.steps else []


def _src_view_window(f: StateFacts) -> list[Arg]:
    if not f.steps or f.steps[0].viewed is None:
        return []
    path, start, end = f.steps[0].viewed
    return [(path, start, end)] if start > 0 and end >= start else []


def _src_last_edited(f: StateFacts) -> list[Arg]:
    return [(f.last_edited, 0, 0)] if f.last_edited else []


def _src_open_file(f: StateFacts) -> list[Arg]:
    return [(f.open_file, 0, 0)] if f.open_file else []


def _src_const(f: StateFacts) -> list[Arg]:
    return [("", 0, 0)]


SOURCES: dict[str, Callable[[StateFacts], list[Arg]]] = {
    "const": _src_const,
    "last": _src_last,
    "runs": _src_runs,
    "created_py": _created((".py",)),
    "created_java": _created((".java",)),
    "created_sh": _created((".sh",)),
    "created": _src_created_live,
    "hits": _src_hits,
    "line_hits": _src_line_hits,
    "bare_lines": _src_bare_lines,
    "frames": _src_frames,
    "view_window": _src_view_window,
    "last_edited": _src_last_edited,
    "open_file": _src_open_file,
}
_SINGLE = frozenset({"const", "last", "view_window", "last_edited", "open_file"})


# ---- renderers: argument -> command ---------------------------------------------------------


def _python_prefix(f: StateFacts) -> str:
    """Follow the agent's own style for running Python (``cd D && python``)."""
    return _python_prefix_of(f.runs)


@lru_cache(maxsize=8_192)
def _python_prefix_of(runs: tuple[str, ...]) -> str:
    for r in runs:
        m = re.match(r"^(cd \S+ && )?(python3?) ", r)
        if m:
            return (m.group(1) or "") + m.group(2)
    return "python"


_OWN_PYTHON = re.compile(r"^(?:cd (\S+) && )?(python3?) (\S+)")


@lru_cache(maxsize=8_192)
def _own_python_of(runs: tuple[str, ...]) -> tuple[str, str, bool] | None:
    """How the agent last ran a Python script: ``(cd dir or "", interpreter, absolute path)``."""
    for r in runs:
        m = _OWN_PYTHON.match(r)
        if m and m.group(3).endswith(".py"):
            return m.group(1) or "", m.group(2), m.group(3).startswith("/")
    return None


def _render_own_python(path: str, f: StateFacts) -> str | None:
    """Run ``path`` exactly the way the agent last ran a script (``cd D && python rel``, ``python /abs``...)."""
    style = _own_python_of(f.runs)
    if style is None:
        return None  # no script run yet: the agent's style is unknown
    cd, python, absolute = style
    if cd:
        return f"cd {cd} && {python} {_rel(_abs(path, f.cwd), cd)}"
    return f"{python} {_abs(path, f.cwd) if absolute else _rel(path, f.cwd)}"


def _render(fmt: str, nums: tuple[int, ...], arg: Arg, f: StateFacts) -> str | None:
    text, n1, n2 = arg
    cwd = f.cwd
    if fmt == "cmd":
        return text
    if fmt == "python":
        return f"{_python_prefix(f)} {_rel(text, cwd)}"
    if fmt == "python_abs":
        return f"python {_abs(text, cwd)}"
    if fmt == "python_own":
        return _render_own_python(text, f)
    if fmt == "python_cd":
        return f"cd {cwd.rstrip('/')} && python {_rel(text, cwd)}" if cwd else None
    if fmt == "javac":
        return f"javac {_rel(text, cwd)}"
    if fmt == "java":
        stem = text.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return f"java {stem}"
    if fmt == "bash":
        return f"bash {_rel(text, cwd)}"
    if fmt == "sre_view":
        return f"str_replace_editor view {_abs(text, cwd)}"
    if fmt == "sre_range":
        before, after = nums
        return f"str_replace_editor view {_abs(text, cwd)} --view_range {max(1, n1 - before)} {n1 + after}"
    if fmt == "sre_next":
        dx, dw = nums
        start = n2 + dx
        return f"str_replace_editor view {_abs(text, cwd)} --view_range {start} {start + (n2 - n1) + dw}"
    if fmt == "sre_undo":
        return f"str_replace_editor undo_edit {_abs(text, cwd)}"
    if fmt == "aci_open":
        return f"open {text}"
    if fmt == "aci_open_rel":
        return f"open {_rel(text, cwd)}"
    if fmt == "aci_open_line":
        return f"open {text} {n1}"
    if fmt == "aci_goto":
        return f"goto {n1}"
    if fmt == "rm":
        return f"rm {text}"
    if fmt == "rm_abs":
        return f"rm {_abs(text, cwd)}"
    return None


# Which renderers make sense for which source (argument shape).
_PAIRS: dict[str, tuple[str, ...]] = {
    "last": ("cmd",),
    "runs": ("cmd",),
    "created_py": ("python", "python_abs", "python_cd", "python_own"),
    "created_java": ("javac", "java"),
    "created_sh": ("bash",),
    "created": ("sre_view", "aci_open", "rm", "rm_abs"),
    "hits": ("sre_view", "aci_open", "aci_open_rel"),
    "line_hits": ("sre_range", "aci_open_line", "aci_goto", "sre_view"),
    "bare_lines": ("aci_goto",),
    "frames": ("sre_range", "aci_open_line", "sre_view"),
    "view_window": ("sre_next",),
    "last_edited": ("sre_view", "sre_undo", "aci_open"),
    "open_file": ("aci_open",),
}
_NUMERIC = frozenset({"sre_range", "sre_next"})


@dataclass(frozen=True, slots=True)
class Template:
    """One action template.

    Attributes:
        name: Stable identifier ``source:renderer[:n1:n2]:k`` (``const:<command>`` for constants).
        source: Key of :data:`SOURCES`.
        fmt: Renderer name.
        nums: Mined numeric arguments of the renderer (view-range offsets).
        k: 1-based rank of the candidate the template takes from its source.
        command: The command of a ``const`` template.
    """

    name: str
    source: str
    fmt: str
    nums: tuple[int, ...] = ()
    k: int = 1
    command: str = ""

    def fill(self, facts: StateFacts, candidates: Sequence[Arg] | None = None) -> str | None:
        """The command this template proposes in ``facts``, or ``None`` if unfillable."""
        if self.source == "const":
            return self.command
        cands = candidates if candidates is not None else SOURCES[self.source](facts)
        if len(cands) < self.k:
            return None
        return _render(self.fmt, self.nums, cands[self.k - 1], facts)


def parse_template(name: str) -> Template:
    """Rebuild a template from its name (as stored in a model manifest).

    Raises:
        HiveModelFileError: the name is not a known template shape.
    """
    if name.startswith("const:"):
        return Template(name=name, source="const", fmt="cmd", command=name[len("const:") :])
    parts = name.split(":")
    try:
        source, fmt, *rest = parts
        k = int(rest[-1])
        nums = tuple(int(x) for x in rest[:-1])
    except (ValueError, IndexError) as exc:
        raise HiveModelFileError(f"template {name!r} is malformed; retrain the model", template=name) from exc
    if source not in SOURCES or fmt not in _PAIRS.get(source, ()) or (fmt in _NUMERIC) != bool(nums):
        raise HiveModelFileError(
            f"template {name!r} is unknown to this version of hive-middleware; retrain the model", template=name
        )
    return Template(name=name, source=source, fmt=fmt, nums=nums, k=k)


def _name(source: str, fmt: str, nums: tuple[int, ...], k: int) -> str:
    return ":".join([source, fmt, *(str(n) for n in nums), str(k)])


class TemplateSet:
    """An ordered list of templates with fast fillability and filling.

    Args:
        templates: The templates, in model-output order.
        matching: How commands are compared (a key of
            :data:`~hive_middleware.routing.normalize.MATCHINGS`).
    """

    def __init__(self, templates: Sequence[Template], matching: str = "whitespace") -> None:
        if matching not in MATCHINGS:
            raise HiveModelFileError(f"unknown matching {matching!r}; use one of {sorted(MATCHINGS)}")
        self.matching = matching
        self.match = MATCHINGS[matching]
        self.templates: tuple[Template, ...] = tuple(templates)
        self.names: tuple[str, ...] = tuple(t.name for t in self.templates)
        self._sources = sorted({t.source for t in self.templates})
        by_source: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, t in enumerate(self.templates):
            by_source[t.source].append((i, t.k))
        self._by_source = {s: (np.array([i for i, _ in v]), np.array([k for _, k in v])) for s, v in by_source.items()}
        # For the one-shot fillability test: each template's source position and rank.
        self._source_pos = np.array([self._sources.index(t.source) for t in self.templates], dtype=np.intp)
        self._ranks = np.array([t.k for t in self.templates], dtype=np.intp)
        # Const commands are mined in matching form; without a cwd-dependent rule they stay fixed.
        self.const_norms: tuple[str | None, ...] = tuple(
            t.command if t.source == "const" and self.match(t.command, None) == t.command else None
            for t in self.templates
        )
        self.const_index: dict[str, int] = {}
        for i, c in enumerate(self.const_norms):
            if c is not None:
                self.const_index.setdefault(c, i)
        self.const_set = frozenset(self.const_index)
        self.other_indices = np.array([i for i, c in enumerate(self.const_norms) if c is None], dtype=np.intp)
        self._fills: dict[tuple[int, Arg, str | None, object], tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self.templates)

    @classmethod
    def from_names(cls, names: Iterable[str], matching: str = "whitespace") -> TemplateSet:
        """Rebuild from stored names (see :func:`parse_template`)."""
        return cls([parse_template(n) for n in names], matching)

    def candidates(self, facts: StateFacts) -> dict[str, list[Arg]]:
        """Each used source's candidates in ``facts``."""
        return {s: SOURCES[s](facts) for s in self._sources}

    def fillable(self, cands: dict[str, list[Arg]]) -> np.ndarray:
        """Boolean mask: which templates can be filled given the candidates."""
        # One gather and one comparison instead of two NumPy calls per source.
        sizes = np.array([len(cands[s]) for s in self._sources], dtype=np.intp)
        return np.asarray(self._ranks <= sizes[self._source_pos])

    def fill(self, index: int, facts: StateFacts, cands: dict[str, list[Arg]]) -> str | None:
        """Fill template ``index``."""
        t = self.templates[index]
        return t.fill(facts, cands.get(t.source))

    def fill_matched(self, index: int, facts: StateFacts, cands: dict[str, list[Arg]]) -> tuple[str, str] | None:
        """Template ``index``'s command and its matching form, or ``None`` if unfillable.

        A command depends only on the template, its argument, the working
        directory and (for ``python`` templates) the agent's way of running
        Python, so results are cached by those: the same earlier run or created
        file is rendered and normalised once per agent, not at every step.
        """
        t = self.templates[index]
        if t.source == "const":
            return t.command, self.match(t.command, facts.cwd)
        options = cands.get(t.source)
        if options is None or len(options) < t.k:
            return None
        cwd = facts.cwd
        key = (index, options[t.k - 1], cwd, _style_key(t.fmt, facts))
        hit = self._fills.get(key)
        if hit is None:
            rendered = t.fill(facts, options)
            if rendered is None:
                return None
            if len(self._fills) >= _FILL_CACHE:
                self._fills.clear()
            hit = self._fills[key] = (rendered, self.match(rendered, cwd))
        return hit


def _style_key(fmt: str, facts: StateFacts) -> object:
    """What besides the argument and cwd a renderer's output depends on (the cache key part)."""
    if fmt == "python":
        return _python_prefix(facts)
    if fmt == "python_own":
        return _own_python_of(facts.runs)
    return ""


def _view_range(action: str) -> tuple[str, int, int] | None:
    m = re.match(r"^str_replace_editor view (\S+)\s+--view_range (-?\d+) (-?\d+)\s*$", action.strip())
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def _base_candidates(max_k: int = _MAX_K) -> list[Template]:
    out: list[Template] = []
    for source, fmts in _PAIRS.items():
        for fmt in fmts:
            if fmt in _NUMERIC:
                continue
            for k in range(1, (1 if source in _SINGLE else max_k) + 1):
                out.append(Template(_name(source, fmt, (), k), source, fmt, (), k))
    return out


def mine_templates(
    examples: Iterable[tuple[str, StateFacts, str]],
    *,
    min_runs: int = 3,
    max_const: int = 40,
    matching: str = "whitespace",
) -> list[Template]:
    """Mine the template list from ``(run_id, facts, actual_action)`` training examples.

    A candidate is kept when it reproduces the actual action (after
    normalisation) in at least ``min_runs`` distinct runs. Candidates are the
    source/renderer pairs for ranks 1..3, the view-range offsets seen in the
    data, and whole commands that recur across runs (``const``).

    Returns:
        Templates ordered by support, most useful first.
    """
    data = list(examples)
    match = MATCHINGS[matching]
    # Pass 1: numeric offsets and recurring constants seen in the data.
    offsets: dict[tuple[str, str], Counter[tuple[int, ...]]] = defaultdict(Counter)
    const_runs: dict[str, set[str]] = defaultdict(set)
    for run_id, facts, actual in data:
        norm = match(actual, facts.cwd)
        if norm and "\n" not in norm and "\n" not in actual.strip():
            const_runs[norm].add(run_id)
        vr = _view_range(actual)
        if vr is None or not facts.steps:
            continue
        path, x, y = vr
        last = facts.steps[0]
        for p, n in (*last.line_hits, *last.frames):
            if _abs(p, facts.cwd) == path:
                offsets[("line", "")][(n - x, y - n)] += 1
        if last.viewed is not None and last.viewed[0] == path and last.viewed[1] > 0:
            _, a, b = last.viewed
            offsets[("next", "")][(x - b, (y - x) - (b - a))] += 1
    candidates = _base_candidates()
    for (kind, _), counter in offsets.items():
        for nums, count in counter.most_common(12):
            if count < min_runs:
                continue
            if kind == "line":
                for source in ("line_hits", "frames"):
                    candidates += [Template(_name(source, "sre_range", nums, k), source, "sre_range", nums, k) for k in range(1, _MAX_K + 1)]
            else:
                candidates.append(Template(_name("view_window", "sre_next", nums, 1), "view_window", "sre_next", nums, 1))
    consts = sorted(
        (c for c, runs in const_runs.items() if len(runs) >= max(min_runs, 3)),
        key=lambda c: -len(const_runs[c]),
    )[:max_const]
    candidates += [Template("const:" + c, "const", "cmd", command=c) for c in consts]
    # Pass 2: support of every candidate, counted in distinct runs.
    tset = TemplateSet(candidates, matching)
    support: dict[int, set[str]] = defaultdict(set)
    for run_id, facts, actual in data:
        norm = match(actual, facts.cwd)
        cands = tset.candidates(facts)
        for i in np.flatnonzero(tset.fillable(cands)):
            filled = tset.fill(int(i), facts, cands)
            if filled is not None and match(filled, facts.cwd) == norm:
                support[int(i)].add(run_id)
    kept = [i for i in support if len(support[i]) >= min_runs]
    kept.sort(key=lambda i: (-len(support[i]), tset.names[i]))
    return [tset.templates[i] for i in kept]
