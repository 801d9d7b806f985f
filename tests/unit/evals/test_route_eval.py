"""The routing evaluation harness, its split and its baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.route_eval import (
    PrevTypePolicy,
    RepeatLastPolicy,
    predicted_type,
    run_route_eval,
    split_runs,
)
from hive_middleware.ports import ActionPolicy
from hive_middleware.routing.split import is_held_out
from hive_middleware.trajectories import read_trajectory
from hive_middleware.types import Action, AgentState, RouteDecision, Step

ACTIONS = [
    "grep -n foo /r/a.py",
    "str_replace_editor view /r/a.py",
    "python /r/t.py",
    "python /r/t.py",
    "submit",
]


def _write_run(folder: Path, run_id: str, actions: list[str] = ACTIONS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    steps = [
        {"action": a, "observation": f"out {i}", "thought": "", "state": {}} for i, a in enumerate(actions)
    ]
    path = folder / f"{run_id}.traj"
    path.write_text(json.dumps({"trajectory": steps, "history": [], "info": {}}))
    return path


class _Oracle:
    """Answers the real next action at a fixed confidence: a fake engine that can see the data."""

    def decide(self, state: AgentState) -> RouteDecision:
        action = ACTIONS[state.step_index]
        conf = 0.9 if state.step_index % 2 else 0.4
        if state.step_index == 4:
            return RouteDecision(None, "submit", 0.2, True, "unsure")
        return RouteDecision(Action(command=f"  {action} "), "oracle", conf, False, "knows")


def test_repeat_last_answers_every_step_but_the_first() -> None:
    policy = RepeatLastPolicy()
    assert isinstance(policy, ActionPolicy)
    first = policy.decide(AgentState(goal="g"))
    assert first.escalated and first.action is None
    later = policy.decide(AgentState(goal="g", history=(Step("ls", "a"), Step("cat a", "x")), step_index=2))
    assert not later.escalated and later.action == Action(command="cat a")


def test_prev_type_learns_the_most_frequent_transition(tmp_path: Path) -> None:
    runs = [read_trajectory(_write_run(tmp_path, f"r{i}")) for i in range(3)]
    policy = PrevTypePolicy.fit(runs)
    assert policy.n_transitions == 15
    assert policy.predict("<start>") == ("search", 1.0)
    assert policy.predict("search") == ("view", 1.0)
    kind, share = policy.predict("run_script")  # -> run_script 3, submit 3: tie, overall frequency decides
    assert kind == "run_script" and share == 0.5
    assert policy.predict("never_seen")[0] == "run_script"  # overall most frequent
    decision = policy.decide(AgentState(goal="g", history=(Step("grep x f", "hit"),), step_index=1))
    assert decision.escalated and decision.action is None and decision.template == "view"
    assert predicted_type(policy, decision) == "view"


def test_metrics_on_a_known_run(tmp_path: Path) -> None:
    path = _write_run(tmp_path / "group_a", "r1")
    result = run_route_eval([path], {"oracle": _Oracle(), "repeat_last": RepeatLastPolicy()}, "oracle")
    assert result["engine"] == "oracle"
    assert result["coverage"] == 4 / 5 and result["precision"] == 1.0  # whitespace-normalised match
    assert result["escalation_rate"] == 1 / 5
    # four exact answers, and the escalated step names "submit", an action type, as its template
    assert result["type_top1"] == 1.0
    assert result["per_group"]["group_a"]["n_steps"] == 5
    assert result["curve"] and result["curve"][-1]["coverage"] == 4 / 5
    assert result["routes_per_s"] > 0 and set(result["latency_us"]) == {"p50", "p95", "p99"}
    rl = result["baselines"]["repeat_last"]
    # steps 1..4 answered with the previous action; only step 3 (python t.py twice) is exact
    assert rl["coverage"] == 4 / 5 and rl["precision"] == 1 / 4 and rl["escalation_rate"] == 1 / 5
    assert rl["type_top1"] == 1 / 5
    assert "curve" not in rl  # constant confidence: no precision-coverage curve


def test_no_engine_leaves_top_level_null(tmp_path: Path) -> None:
    path = _write_run(tmp_path, "r1")
    result = run_route_eval([path], {"repeat_last": RepeatLastPolicy()})
    assert result["engine"] is None and result["coverage"] is None and result["precision"] is None
    with pytest.raises(HiveUsageError):
        run_route_eval([path], {"repeat_last": RepeatLastPolicy()}, "hive")


def test_split_holds_out_runs_only_where_train_and_data_overlap(tmp_path: Path) -> None:
    ids = [f"repo__pkg-{i}" for i in range(40)]
    for i in ids:
        _write_run(tmp_path / "in_domain", i)
    for i in ids[:5]:
        _write_run(tmp_path / "other", i)
    split = split_runs([tmp_path / "in_domain", tmp_path / "other"], [tmp_path / "in_domain"])
    held = {i for i in ids if is_held_out(i)}
    assert 0 < len(held) < len(ids)
    eval_ids: dict[str, set[str]] = {}
    for f in split.eval_files:
        eval_ids.setdefault(f.parent.name, set()).add(f.stem)
    assert eval_ids["in_domain"] == held
    assert eval_ids["other"] == set(ids[:5])  # not trained on: evaluated whole
    assert {f.stem for f in split.train_files} == set(ids) - held
    assert split.split_folders == ("in_domain",)
    assert is_held_out("repo__pkg-3") == is_held_out("repo__pkg-3")


def test_real_slice(shared_data: Path) -> None:
    folder = shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"
    files = sorted(p for p in folder.glob("*.traj") if not p.name.startswith("_"))[:2]
    policies: dict[str, Any] = {
        "repeat_last": RepeatLastPolicy(),
        "prev_type": PrevTypePolicy.fit(read_trajectory(f) for f in files),
    }
    result = run_route_eval(files, policies)
    rl, pt = result["baselines"]["repeat_last"], result["baselines"]["prev_type"]
    assert rl["escalation_rate"] == 2 / result["n_steps"]  # step 0 of each run
    assert pt["coverage"] == 0.0 and pt["precision"] is None and 0 < pt["type_top1"] <= 1


class _TypedEscalator:
    """Escalates every step but names its best type through decide_with_type."""

    def decide(self, state: AgentState) -> RouteDecision:
        return self.decide_with_type(state)[0]

    def decide_with_type(self, state: AgentState) -> tuple[RouteDecision, str]:
        return RouteDecision(None, "tmpl-x", 0.3, True, "unsure"), "run_script"


def test_decide_with_type_supplies_the_best_type_and_precision_is_whitespace_only(tmp_path: Path) -> None:
    path = _write_run(tmp_path, "r1")
    result = run_route_eval([path], {"typed": _TypedEscalator()}, "typed")
    assert result["coverage"] == 0.0 and result["type_top1"] == 2 / 5  # the two python runs

    class CdPrefix:
        def decide(self, state: AgentState) -> RouteDecision:
            return RouteDecision(Action(command=f"cd /r && {ACTIONS[state.step_index]}"), "t", 0.9, False, "")

    # ``cd /r && X`` is a different command string from ``X``: no match under whitespace-only normalisation
    assert run_route_eval([path], {"cd": CdPrefix()}, "cd")["precision"] == 0.0
