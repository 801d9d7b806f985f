"""The routing evaluation (``hive eval route``, DESIGN §3) and its two baselines.

Every step of every run is routed from the state the agent was in before acting
(:attr:`~hive_middleware.trajectories.TrajectoryStep.state`: goal, earlier
steps, env; never the step's own action). For each policy (anything with
``decide(state) -> RouteDecision``, :class:`~hive_middleware.ports.ActionPolicy`):

* ``coverage`` = answered steps / all steps; a step is *answered* when the
  decision is not escalated and carries an action.
* ``precision`` = answered steps whose action equals the agent's real action
  after whitespace normalisation (:func:`~hive_middleware.evals.actions.normalize_action`,
  DESIGN §2: whitespace only, nothing else is merged; the ruler does not use
  any engine's own normalisation) / answered steps; None when nothing was
  answered.
* ``type_top1`` = steps whose predicted action type equals the real action's
  type (:func:`~hive_middleware.routing.action_types.action_type`) / all steps. The
  predicted type is the type of the decision's action when it has one; else
  the decision's ``template`` when that is itself an action type name; else the
  policy's ``template_action_type(template)`` when the policy offers one; a
  step with no predicted type counts as a miss. A policy with
  ``decide_with_type(state) -> (decision, type)`` (the router: the type of its
  answered-or-best template) is called through it and that type is used.
* ``escalation_rate`` = escalated decisions / all steps.
* ``routes_per_s`` and ``latency_us`` (p50/p95/p99 of one ``decide`` call).
* ``per_group``: the rates per source folder.

Baselines:

* ``repeat_last`` (:class:`RepeatLastPolicy`): answers every step from step 1
  with the previous action, verbatim; escalates step 0.
* ``prev_type`` (:class:`PrevTypePolicy`): the most frequent next action type
  given the previous one, counted on training runs. It predicts a type, never
  an exact action, so it escalates every step (coverage 0, precision None) and
  is judged by ``type_top1`` only.

Held-out split: when a folder is both evaluated and trained on, runs are split
by run id (:func:`~hive_middleware.routing.split.is_held_out`, the rule router
training uses: sha256 of the run id, 1 run in 5 held out);
every policy is evaluated on the held-out runs only and ``prev_type`` learns
from the others. Folders that are not trained on are evaluated whole.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError, HiveUsageError
from hive_middleware.evals.actions import normalize_action
from hive_middleware.ports import ActionPolicy
from hive_middleware.routing.action_types import ACTION_TYPES, action_type
from hive_middleware.routing.split import is_held_out
from hive_middleware.skipped import SkippedRecords, active_skips, skip_data_error
from hive_middleware.stats import percentile
from hive_middleware.trajectories import Trajectory, read_trajectory, trajectory_files
from hive_middleware.types import Action, AgentState, RouteDecision

__all__ = [
    "PrevTypePolicy",
    "RepeatLastPolicy",
    "RunSplit",
    "predicted_type",
    "read_runs",
    "run_online_route_eval",
    "run_route_eval",
    "split_runs",
]

START = "<start>"


def _run_id(path: Path) -> str:
    return path.name[: -len(".traj")] if path.name.endswith(".traj") else path.stem


@dataclass(frozen=True)
class RunSplit:
    """Which ``.traj`` files are evaluated and which are trained on.

    Attributes:
        eval_files: Files every policy is evaluated on.
        train_files: Files ``prev_type`` learns from.
        split_folders: Folders split by run (both evaluated and trained on).
    """

    eval_files: tuple[Path, ...]
    train_files: tuple[Path, ...]
    split_folders: tuple[str, ...]


def split_runs(
    data: Sequence[str | Path], train: Sequence[str | Path] = (), *, max_runs: int | None = None
) -> RunSplit:
    """Choose evaluation and training runs (held-out split where they overlap).

    Args:
        data: Evaluation paths (folders or ``.traj`` files).
        train: Training paths for ``prev_type``.
        max_runs: Keep at most this many evaluation runs per data path.

    Returns:
        The split.

    Raises:
        HiveDataError: a path is missing or has no ``.traj`` files.
    """
    train_files = {f.resolve(): f for f in trajectory_files(list(train))} if train else {}
    eval_files: list[Path] = []
    overlapping: set[Path] = set()
    split_folders: list[str] = []
    for raw in data:
        files = trajectory_files([raw])
        shared = [f for f in files if f.resolve() in train_files]
        if shared:
            split_folders.append(Path(raw).resolve().name)
            overlapping.update(f.resolve() for f in shared)
            files = [f for f in files if f.resolve() not in train_files or is_held_out(_run_id(f))]
        eval_files.extend(files[:max_runs] if max_runs else files)
    kept_train = tuple(
        f for key, f in train_files.items() if key not in overlapping or not is_held_out(_run_id(f))
    )
    return RunSplit(tuple(eval_files), kept_train, tuple(split_folders))


class RepeatLastPolicy:
    """The ``repeat_last`` baseline: do again exactly what was done last."""

    def decide(self, state: AgentState) -> RouteDecision:
        """The previous action with confidence 1; escalates when there is none."""
        if not state.history:
            return RouteDecision(None, None, 0.0, True, "no previous action to repeat")
        return RouteDecision(
            Action(command=state.history[-1].action), "repeat_last", 1.0, False, "repeat last"
        )


@dataclass
class PrevTypePolicy:
    """The ``prev_type`` baseline: the most frequent next action type after the previous type.

    It predicts a type, never an exact action, so every decision is escalated
    with the predicted type as ``template``.

    Attributes:
        transitions: ``{previous type or "<start>": Counter(next type)}``.
    """

    transitions: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @classmethod
    def fit(cls, runs: Iterable[Trajectory]) -> PrevTypePolicy:
        """Count type transitions over the steps of ``runs``."""
        policy = cls()
        for run in runs:
            prev = START
            for step in run.steps:
                kind = action_type(step.action)
                policy.transitions[prev][kind] += 1
                prev = kind
        return policy

    @property
    def n_transitions(self) -> int:
        """How many transitions were counted."""
        return sum(sum(c.values()) for c in self.transitions.values())

    def _overall(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.transitions.values():
            total.update(counts)
        return total

    def predict(self, previous: str) -> tuple[str | None, float]:
        """The most frequent next type after ``previous`` and its share.

        Ties go to the type more frequent overall, then to the name. A previous
        type never seen falls back to the overall most frequent type.
        """
        counts = self.transitions.get(previous) or self._overall()
        if not counts:
            return None, 0.0
        overall = self._overall()
        best = max(counts, key=lambda t: (counts[t], overall[t], t))
        return best, counts[best] / sum(counts.values())

    def decide(self, state: AgentState) -> RouteDecision:
        """Escalate, naming the predicted next type as the template."""
        previous = action_type(state.history[-1].action) if state.history else START
        kind, share = self.predict(previous)
        return RouteDecision(None, kind, share, True, "prev_type predicts an action type only")


def predicted_type(policy: ActionPolicy, decision: RouteDecision) -> str | None:
    """The action type a decision predicts (rule in the module docstring)."""
    if decision.action is not None:
        return action_type(decision.action.command)
    if decision.template in ACTION_TYPES:
        return decision.template
    mapper = getattr(policy, "template_action_type", None)
    if decision.template is not None and callable(mapper):
        kind = mapper(decision.template)
        return kind if isinstance(kind, str) else None
    return None


@dataclass
class _Tally:
    steps: int = 0
    runs: int = 0
    answered: int = 0
    correct: int = 0
    type_hits: int = 0
    escalated: int = 0

    def summary(self) -> dict[str, Any]:
        n = self.steps
        return {
            "coverage": self.answered / n if n else None,
            "precision": self.correct / self.answered if self.answered else None,
            "type_top1": self.type_hits / n if n else None,
            "escalation_rate": self.escalated / n if n else None,
            "n_runs": self.runs,
            "n_steps": n,
            "n_answered": self.answered,
        }


@dataclass
class _PolicyRun:
    total: _Tally = field(default_factory=_Tally)
    groups: dict[str, _Tally] = field(default_factory=dict)
    latencies_us: list[float] = field(default_factory=list)
    scored: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, exact) of answered steps


def _curve(scored: Sequence[tuple[float, bool]], n_steps: int, points: int = 20) -> list[dict[str, float]]:
    """Precision and coverage when only answers at or above each confidence are kept."""
    if not scored or n_steps == 0:
        return []
    ordered = sorted(scored, key=lambda s: -s[0])
    out: list[dict[str, float]] = []
    step = max(1, len(ordered) // points)
    correct = 0
    for i, (conf, ok) in enumerate(ordered, start=1):
        correct += ok
        if i % step == 0 or i == len(ordered):
            out.append({"threshold": conf, "coverage": i / n_steps, "precision": correct / i})
    return out


def read_runs(files: Iterable[Path], skips: SkippedRecords | None = None) -> Iterator[Trajectory]:
    """The usable runs among ``files``; a malformed file is skipped and counted in ``skips``."""
    skips = active_skips(skips)
    for path in files:
        try:
            yield read_trajectory(path, skips=skips)
        except HiveDataError as exc:
            skip_data_error(skips, exc)


def run_route_eval(
    files: Sequence[Path],
    policies: Mapping[str, ActionPolicy],
    engine: str | None = None,
    *,
    on_run: Callable[[Trajectory], None] | None = None,
    skips: SkippedRecords | None = None,
) -> dict[str, Any]:
    """Route every step of every run with every policy and score the decisions.

    Args:
        files: The ``.traj`` files to evaluate (see :func:`split_runs`).
        policies: Policies by name; baselines and the engine alike.
        engine: The name in ``policies`` reported at the top level, or None
            (top-level figures are then None).
        on_run: Called after each run (progress reporting; skipped files too).
        skips: Where malformed files and steps are counted (default: the
            collector of :func:`~hive_middleware.skipped.recording_skips`, else
            a fresh one); reported as ``skipped``.

    Returns:
        ``{"coverage", "precision", "type_top1", "escalation_rate",
        "baselines": {name: {...}}, "per_group", "routes_per_s", "latency_us",
        "engine", "n_runs", "n_steps", "skipped": {reason: n}}``; each entry
        also has ``curve`` (precision/coverage by confidence threshold) when
        its answered confidences take more than one value.

    Raises:
        HiveUsageError: ``engine`` names no policy, or no policy is given.
        HiveDataError: no file is a usable run (one line with the skip reasons).
    """
    skips = active_skips(skips)
    if not policies:
        raise HiveUsageError("give at least one routing policy")
    if engine is not None and engine not in policies:
        raise HiveUsageError(f"engine {engine!r} is not one of the policies {sorted(policies)}")
    runs = {name: _PolicyRun() for name in policies}
    n_runs = n_steps = 0
    for path in files:
        try:
            traj = read_trajectory(path, skips=skips)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        for name, policy in policies.items():
            record = runs[name]
            group = record.groups.setdefault(traj.group, _Tally())
            group.runs += 1
            record.total.runs += 1
            with_type = getattr(policy, "decide_with_type", None)
            for step in traj.steps:
                start = time.perf_counter()
                guessed: str | None
                if callable(with_type):
                    decision, guessed = with_type(step.state)
                else:
                    decision = policy.decide(step.state)
                    guessed = None
                record.latencies_us.append((time.perf_counter() - start) * 1e6)
                if guessed is None:
                    guessed = predicted_type(policy, decision)
                true_type = action_type(step.action)
                answered = not decision.escalated and decision.action is not None
                exact = (
                    answered
                    and decision.action is not None
                    and normalize_action(decision.action.command) == normalize_action(step.action)
                )
                type_hit = guessed == true_type
                for tally in (record.total, group):
                    tally.steps += 1
                    tally.answered += answered
                    tally.correct += exact
                    tally.type_hits += type_hit
                    tally.escalated += decision.escalated
                if answered:
                    record.scored.append((float(decision.confidence), exact))
        n_runs += 1
        n_steps += len(traj.steps)
        if on_run is not None:
            on_run(traj)
    if files and not n_runs:
        raise HiveDataError(
            f"no usable trajectory among the {len(files)} files evaluated ({skips.describe()}); "
            "fix or replace them",
            field="trajectory",
        )

    def entry(name: str) -> dict[str, Any]:
        record = runs[name]
        out = record.total.summary()
        out["per_group"] = {g: t.summary() for g, t in record.groups.items()}
        total_s = sum(record.latencies_us) / 1e6
        out["routes_per_s"] = len(record.latencies_us) / total_s if total_s > 0 else None
        lat = record.latencies_us
        out["latency_us"] = (
            {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99)}
            if lat
            else None
        )
        if len({c for c, _ in record.scored}) > 1:
            out["curve"] = _curve(record.scored, record.total.steps)
        return out

    result: dict[str, Any]
    if engine is not None:
        result = entry(engine)
    else:
        result = {
            "coverage": None,
            "precision": None,
            "type_top1": None,
            "escalation_rate": None,
            "per_group": None,
            "routes_per_s": None,
            "latency_us": None,
        }
    result["engine"] = engine
    result["baselines"] = {name: entry(name) for name in policies if name != engine}
    result["n_runs"] = n_runs
    result["n_steps"] = n_steps
    result["skipped"] = skips.counts
    return result


# --------------------------------------------------------------------------- prequential (online)

LEARNING_WINDOW = 500
"""Steps per point of the prequential learning curve."""


@dataclass
class _Window:
    size: int
    seen: int = 0
    answered: int = 0
    correct: int = 0
    points: list[dict[str, Any]] = field(default_factory=list)
    _n: int = 0
    _a: int = 0
    _c: int = 0

    def add(self, answered: bool, exact: bool) -> None:
        self.seen += 1
        self._n += 1
        self._a += answered
        self._c += exact
        if self._n == self.size:
            self.close()

    def close(self) -> None:
        if not self._n:
            return
        self.points.append(
            {
                "steps_seen": self.seen,
                "window": self._n,
                "coverage": self._a / self._n,
                "precision": self._c / self._a if self._a else None,
                "answered": self._a,
            }
        )
        self._n = self._a = self._c = 0


def _learning_record(state: AgentState, decision: RouteDecision, action: str, run_id: str, index: int) -> Any:
    from hive_middleware.routing.habits import LearningRecord

    answered = not decision.escalated and decision.action is not None
    return LearningRecord(
        state=state,
        predicted=decision.action if answered else None,
        actual=action,
        source=run_id,
        step=index,
        template=decision.template if answered else None,
    )


def run_online_route_eval(
    data: Sequence[str | Path],
    router: Any,
    *,
    baselines: Mapping[str, ActionPolicy] | None = None,
    window: int = LEARNING_WINDOW,
    max_runs: int | None = None,
    exclude_runs: frozenset[str] = frozenset(),
    on_run: Callable[[Trajectory], None] | None = None,
    skips: SkippedRecords | None = None,
) -> dict[str, Any]:
    """Prequential routing evaluation: answer live with graduated habits only, learn after scoring.

    Each ``data`` path (one agent: its folder name is the agent id) is replayed
    run by run in file-name order; at every step the router decides from the
    state, the decision is scored exactly as in :func:`run_route_eval`, and
    only then does the router learn from the step
    (:class:`~hive_middleware.routing.habits.LearningRecord`: state, live answer,
    recorded action). One router serves every path, as one tenant.

    Args:
        data: Folders or ``.traj`` files, replayed in this order.
        router: A :class:`~hive_middleware.routing.shadow.ShadowRouter` (anything
            with ``decide_with_type`` and ``learn``).
        baselines: Policies scored on the same steps (they do not learn).
        window: Steps per learning-curve point.
        max_runs: Replay at most this many runs per path.
        exclude_runs: Run ids never replayed (those a prior model was trained on).
        on_run: Called after each run.
        skips: Where malformed files and steps are counted.

    Returns:
        The keys of :func:`run_route_eval` (over the whole replay; ``latency_us``
        is one decision plus its learning update) plus ``answered`` (count),
        ``learning_curve`` (``{"steps_seen", "window", "coverage", "precision",
        "answered"}`` per ``window`` steps of the whole replay), the same curve
        in each ``per_group`` entry with ``escalated_types`` (the real action
        types of the steps it escalated, most frequent first), ``habits`` (per
        group: live habits, graduations, demotions, ``near_misses`` (nearly
        exact habits not live at the end, with the reason), ``reproducible_share``
        (steps some candidate reproduced exactly) and ``hindsight_coverage`` per
        signature rung (:func:`~hive_middleware.routing.habit_report.hindsight_hits`)),
        ``ceiling`` (the last two over all groups) and ``excluded_runs``.

    Raises:
        HiveDataError: a path is missing, or no file is a usable run.
    """
    skips = active_skips(skips)
    policies: dict[str, Any] = {"hive": router, **dict(baselines or {})}
    runs = {name: _PolicyRun() for name in policies}
    curve = _Window(window)
    group_curves: dict[str, _Window] = {}
    escalated_types: dict[str, Counter[str]] = defaultdict(Counter)
    n_runs = n_steps = excluded = 0
    all_files: list[Path] = []
    for raw in data:
        files = [f for f in trajectory_files([raw]) if _run_id(f) not in exclude_runs]
        excluded += len(trajectory_files([raw])) - len(files)
        all_files += files[:max_runs] if max_runs else files
    for path in all_files:
        try:
            traj = read_trajectory(path, skips=skips)
        except HiveDataError as exc:
            skip_data_error(skips, exc)
            continue
        group_curve = group_curves.setdefault(traj.group, _Window(window))
        for record in runs.values():
            record.groups.setdefault(traj.group, _Tally()).runs += 1
            record.total.runs += 1
        for step in traj.steps:
            state = replace(step.state, agent_id=traj.group)
            true_type = action_type(step.action)
            target = normalize_action(step.action)
            for name, policy in policies.items():
                record = runs[name]
                start = time.perf_counter()
                guessed: str | None
                if name == "hive":
                    decision, guessed = policy.decide_with_type(state)
                    policy.learn(_learning_record(state, decision, step.action, traj.run_id, step.index))
                else:
                    decision = policy.decide(state)
                    guessed = None
                record.latencies_us.append((time.perf_counter() - start) * 1e6)
                if guessed is None:
                    guessed = predicted_type(policy, decision)
                answered = not decision.escalated and decision.action is not None
                exact = answered and decision.action is not None and normalize_action(decision.action.command) == target
                for tally in (record.total, record.groups[traj.group]):
                    tally.steps += 1
                    tally.answered += answered
                    tally.correct += exact
                    tally.type_hits += guessed == true_type
                    tally.escalated += decision.escalated
                if name == "hive":
                    curve.add(answered, exact)
                    group_curve.add(answered, exact)
                    if not answered:
                        escalated_types[traj.group][true_type] += 1
        n_runs += 1
        n_steps += len(traj.steps)
        if on_run is not None:
            on_run(traj)
    if all_files and not n_runs:
        raise HiveDataError(
            f"no usable trajectory among the {len(all_files)} files replayed ({skips.describe()}); fix or replace them",
            field="trajectory",
        )
    curve.close()
    for c in group_curves.values():
        c.close()

    def entry(name: str) -> dict[str, Any]:
        record = runs[name]
        out = record.total.summary()
        out["per_group"] = {g: t.summary() for g, t in record.groups.items()}
        total_s = sum(record.latencies_us) / 1e6
        out["routes_per_s"] = len(record.latencies_us) / total_s if total_s > 0 else None
        lat = record.latencies_us
        out["latency_us"] = (
            {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99)} if lat else None
        )
        out["answered"] = record.total.answered
        return out

    result = entry("hive")
    result["engine"] = "hive"
    result["online"] = True
    result["learning_curve"] = curve.points
    result["latency_note"] = "one decision plus its learning update"
    for group, c in group_curves.items():
        result["per_group"][group]["learning_curve"] = c.points
        result["per_group"][group]["escalated_types"] = dict(escalated_types[group].most_common())
    result["habits"] = _habit_summary(router, {g: t.steps for g, t in runs["hive"].groups.items()})
    result["ceiling"] = _ceiling(result["habits"], runs["hive"].total.steps)
    result["baselines"] = {name: entry(name) for name in policies if name != "hive"}
    result["n_runs"] = n_runs
    result["n_steps"] = n_steps
    result["excluded_runs"] = excluded
    result["skipped"] = skips.counts
    return result


def _habit_summary(router: Any, steps: Mapping[str, int]) -> dict[str, Any]:
    """Per group: habits watched and live, graduations, demotions, live examples, and why the
    coverage is what it is (near misses, hindsight ceiling, steps any candidate reproduced)."""
    from hive_middleware.routing.habit_report import hindsight_hits, near_misses
    from hive_middleware.routing.habits import HabitBook

    book = getattr(router, "book", None)
    if not isinstance(book, HabitBook):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for (agent, signature, template), record in book.items():
        g = out.setdefault(agent, {"habits": 0, "live": 0, "graduations": 0, "demotions": 0, "live_examples": []})
        g["habits"] += 1
        g["graduations"] += record.graduations
        g["demotions"] += record.demotions
        if record.live:
            g["live"] += 1
            if len(g["live_examples"]) < 12:
                g["live_examples"].append(
                    {"signature": signature, "template": template, "n": record.n, "hits": record.hits,
                     "answered": record.answered}
                )
    reproducible = getattr(router, "reproducible_steps", None)
    reproduced = reproducible() if callable(reproducible) else {}
    for agent, g in out.items():
        n = steps.get(agent, 0)
        hindsight = hindsight_hits(book, agent)
        g["hindsight_hits"] = hindsight
        g["hindsight_coverage"] = {rung: hits / n if n else None for rung, hits in hindsight.items()}
        learned, hits = reproduced.get(agent, (0, 0))
        g["reproducible_steps"] = hits
        g["reproducible_share"] = hits / learned if learned else None
        g["near_misses"] = [m.as_dict() for m in near_misses(book, agent=agent)]
    return out


def _ceiling(habits: Mapping[str, Mapping[str, Any]], n_steps: int) -> dict[str, Any]:
    """Over all groups: the share of steps some candidate reproduced, and the hindsight coverage per rung."""
    if not habits or not n_steps:
        return {}
    rungs: Counter[str] = Counter()
    for g in habits.values():
        rungs.update(g.get("hindsight_hits") or {})
    return {
        "reproducible_share": sum(g.get("reproducible_steps") or 0 for g in habits.values()) / n_steps,
        "hindsight_coverage": {rung: hits / n_steps for rung, hits in rungs.items()},
        "note": "reproducible_share: steps whose action some candidate (template, recurring command, prior) "
        "reproduced exactly; hindsight_coverage: steps the best template of each signature answers correctly "
        "if every habit's lifetime exact-match rate were known in advance (rate >= the rule's bound, at least "
        "the rule's smallest proof; the distinct-run requirement is not applied)",
    }
