"""``hive eval speculate``: how often speculative pre-execution would have served the agent's next call.

Every step of every run is replayed from the state the agent was in before
acting (never the step's own action). At each step the predictor
(:func:`~hive_middleware.routing.speculate.predict_next`) proposes up to ``k``
read-only commands; those are what would have been pre-executed while the
model thought. Then the step's real action is compared with them, exactly after
whitespace normalisation (:func:`~hive_middleware.evals.actions.normalize_action`).

* Read-only steps: steps whose action type
  (:func:`~hive_middleware.routing.action_types.action_type`) is one of
  :data:`~hive_middleware.routing.speculate.READ_ONLY_ACTION_TYPES` (``view``,
  ``search``, ``find``, ``list``, ``run_test``); the predictor only proposes
  commands of those types.
* ``hit_rate`` = read-only steps whose action is among the top-``k``
  pre-executed commands / read-only steps.
* ``tool_seconds_saved_ratio`` = recorded tool seconds of the hit read-only
  steps / recorded tool seconds of all read-only steps (the time the agent
  would not have waited for its tool). Times come from each step's
  ``execution_time`` in the ``.traj`` file (SWE-agent 1.x records it per
  ``trajectory`` entry; 0.x files record none, and ``history`` has none in
  either format); steps without a time are left out of both sums, and the ratio
  is ``null`` where no read-only step has one.
* ``wasted_executions_per_step`` = pre-executed commands that did not match the
  agent's action (all of them at a step that was not read-only or missed,
  all but one at a hit) / all steps.
* ``*_by_k``: the same for ``k`` = 1..``max_k`` (keys are strings), ``by_type``
  the hit rate per read-only type, ``by_rule`` which rule proposed the hits,
  ``predict_us`` the latency of one prediction.
* ``per_group``: every figure per source folder (one agent/model each).

With ``habits`` the router's shadow habits are replayed beside it, per folder
in file-name order (prequential: a habit learns from a step only after that
step was predicted), and a live habit's proposal is ranked first.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError, HiveUsageError
from hive_middleware.evals.actions import normalize_action
from hive_middleware.routing.action_types import action_type
from hive_middleware.routing.speculate import READ_ONLY_ACTION_TYPES, predict_next
from hive_middleware.skipped import SkippedRecords, active_skips, skip_data_error
from hive_middleware.stats import percentile
from hive_middleware.trajectories import Trajectory, read_trajectory, trajectory_files
from hive_middleware.types import AgentState

__all__ = ["DEFAULT_MAX_K", "SPECULATE_KEYS", "execution_times", "run_speculate_eval"]

DEFAULT_MAX_K = 5
"""The largest k measured (the hit-rate curve runs k = 1..DEFAULT_MAX_K)."""

SPECULATE_KEYS = ("read_only_steps", "hit_rate", "k", "tool_seconds_saved_ratio", "wasted_executions_per_step")
"""The headline keys of ``speculate.json``, overall and in each ``per_group`` entry."""


def execution_times(run: Trajectory) -> list[float | None]:
    """The recorded tool seconds of each step of ``run`` (``None`` where the file records none).

    The loader drops malformed steps, so the file's steps are matched to the
    run's by their action and observation, in order.
    """
    try:
        raw = json.loads(run.path.read_bytes()).get("trajectory")
    except (OSError, ValueError, AttributeError):
        return [None] * len(run.steps)
    if not isinstance(raw, list):
        return [None] * len(run.steps)
    times: list[float | None] = []
    j = 0
    for step in run.steps:
        found: float | None = None
        while j < len(raw):
            entry = raw[j]
            j += 1
            if isinstance(entry, Mapping) and entry.get("action") == step.action and (
                entry.get("observation") == step.observation
            ):
                value = entry.get("execution_time")
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    found = max(0.0, float(value))
                break
        times.append(found)
    return times


@dataclass
class _Tally:
    max_k: int
    runs: int = 0
    steps: int = 0
    read_only: int = 0
    timed_read_only: int = 0
    read_only_seconds: float = 0.0
    hits: list[int] = field(default_factory=list)
    saved: list[float] = field(default_factory=list)
    wasted: list[int] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    type_hits: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.hits = [0] * self.max_k
        self.saved = [0.0] * self.max_k
        self.wasted = [0] * self.max_k

    def add(self, actual: str, predicted: Sequence[tuple[str, str]], seconds: float | None, k: int) -> None:
        self.steps += 1
        kind = action_type(actual)
        norm = normalize_action(actual)
        forms = [normalize_action(c) for c, _ in predicted]
        read_only = kind in READ_ONLY_ACTION_TYPES
        for i in range(self.max_k):
            top = forms[: i + 1]
            hit = read_only and norm in top
            self.wasted[i] += len(top) - (1 if hit else 0)
            if hit:
                self.hits[i] += 1
                if seconds is not None:
                    self.saved[i] += seconds
        if not read_only:
            return
        self.read_only += 1
        self.by_type[kind] += 1
        if seconds is not None:
            self.timed_read_only += 1
            self.read_only_seconds += seconds
        if norm in forms[:k]:
            self.type_hits[kind] += 1
            self.rules[predicted[forms.index(norm)][1]] += 1

    def summary(self, k: int) -> dict[str, Any]:
        def rate(i: int) -> float | None:
            return self.hits[i] / self.read_only if self.read_only else None

        def saved(i: int) -> float | None:
            return self.saved[i] / self.read_only_seconds if self.read_only_seconds > 0 else None

        def wasted(i: int) -> float | None:
            return self.wasted[i] / self.steps if self.steps else None

        ks = range(self.max_k)
        return {
            "read_only_steps": self.read_only,
            "hit_rate": rate(k - 1),
            "k": k,
            "tool_seconds_saved_ratio": saved(k - 1),
            "wasted_executions_per_step": wasted(k - 1),
            "hit_rate_by_k": {str(i + 1): rate(i) for i in ks},
            "tool_seconds_saved_ratio_by_k": {str(i + 1): saved(i) for i in ks},
            "wasted_executions_per_step_by_k": {str(i + 1): wasted(i) for i in ks},
            "n_runs": self.runs,
            "n_steps": self.steps,
            "timed_read_only_steps": self.timed_read_only,
            "read_only_tool_seconds": round(self.read_only_seconds, 3),
            "by_type": {
                t: {"steps": n, "hit_rate": self.type_hits[t] / n}
                for t, n in sorted(self.by_type.items(), key=lambda kv: -kv[1])
            },
            "by_rule": dict(self.rules.most_common()),
        }


def _habit_router() -> Any:
    from hive_middleware.routing.shadow import ShadowRouter

    return ShadowRouter(None)


def _proposals(router: Any, state: AgentState, agent: str) -> list[str]:
    decision = router.decide(replace(state, agent_id=agent))
    action = getattr(decision, "action", None)
    return [action.command] if action is not None else []


def _check(k: int, max_k: int) -> None:
    if isinstance(max_k, bool) or not isinstance(max_k, int) or not 1 <= max_k <= 16:
        raise HiveUsageError(f"max_k must be an int from 1 to 16, got {max_k!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise HiveUsageError(f"--k must be an int from 1 to {max_k} (the largest k measured), got {k!r}")


def run_speculate_eval(
    paths: Sequence[str | Path],
    *,
    k: int = 3,
    max_k: int = DEFAULT_MAX_K,
    habits: bool = False,
    max_runs: int | None = None,
    on_run: Callable[[Trajectory], None] | None = None,
    skips: SkippedRecords | None = None,
) -> dict[str, Any]:
    """Replay every step of the runs under ``paths`` and score speculative pre-execution.

    Args:
        paths: Folders of ``.traj`` files or single files; each folder is a group.
        k: Commands pre-executed per step for the headline figures.
        max_k: The largest k of the ``*_by_k`` curves (>= k).
        habits: Replay the router's shadow habits beside it (their live proposals rank first).
        max_runs: Read at most this many runs from each path.
        on_run: Called after each run (progress).
        skips: Where malformed records are counted.

    Returns:
        The figures described in the module docstring, with ``per_group``.

    Raises:
        HiveUsageError: ``k`` or ``max_k`` out of range.
        HiveDataError: a bad path, or no usable run.
    """
    _check(k, max_k)
    skips = active_skips(skips)
    total = _Tally(max_k)
    groups: dict[str, _Tally] = {}
    latencies: list[float] = []
    routers: dict[str, Any] = {}
    formats: dict[str, Counter[str]] = {}
    for path in paths:
        files = trajectory_files([path])
        if max_runs is not None:
            files = files[:max_runs]
        for file in files:
            try:
                run = read_trajectory(file, skips=skips)
            except HiveDataError as exc:
                skip_data_error(skips, exc)
                continue
            group = groups.setdefault(run.group, _Tally(max_k))
            formats.setdefault(run.group, Counter())[run.format_version] += 1
            router = routers.setdefault(run.group, _habit_router()) if habits else None
            _replay(run, k, max_k, router, (total, group), latencies)
            if on_run is not None:
                on_run(run)
    if total.runs == 0:
        names = ", ".join(str(p) for p in paths)
        raise HiveDataError(f"no usable trajectory in {names}; pass folders of SWE-agent .traj files", path=names)
    result = total.summary(k)
    result["per_group"] = {name: {**t.summary(k), "formats": dict(formats[name])} for name, t in groups.items()}
    result["predict_us"] = {
        q: round(percentile(latencies, float(q[1:])) * 1e6, 1) for q in ("p50", "p95", "p99")
    }
    result["read_only_types"] = list(READ_ONLY_ACTION_TYPES)
    result["habits"] = habits
    result["timing_source"] = (
        "trajectory[i].execution_time of each step (SWE-agent 1.x); 0.x files record no tool times"
    )
    result["skipped"] = skips.counts
    return result


def _replay(
    run: Trajectory, k: int, max_k: int, router: Any, tallies: Iterable[_Tally], latencies: list[float],
) -> None:
    seconds = execution_times(run)
    tallies = tuple(tallies)
    for tally in tallies:
        tally.runs += 1
    for step, spent in zip(run.steps, seconds, strict=True):
        proposals = _proposals(router, step.state, run.group) if router is not None else []
        started = time.perf_counter()
        predicted = predict_next(step.state, max_k, proposals=proposals)
        latencies.append(time.perf_counter() - started)
        pairs = [(p.command, p.rule) for p in predicted]
        for tally in tallies:
            tally.add(step.action, pairs, spent, k)
    if router is not None and run.steps:
        router.settle(run.group, run.steps[-1].action)

