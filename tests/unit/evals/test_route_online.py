"""Prequential routing evaluation (``hive eval route --online``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from hive_middleware.cli.main import app
from hive_middleware.evals.route_eval import RepeatLastPolicy, run_online_route_eval
from hive_middleware.routing.habits import GraduationRule, LearningRecord
from hive_middleware.routing.shadow import ShadowRouter
from hive_middleware.types import AgentState, RouteDecision

RULE = GraduationRule(min_observations=5, min_lower_bound=0.8, z=1.0, min_sources=2)


def _write_run(folder: Path, run_id: str, actions: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    steps = [{"action": a, "observation": f"out {i}", "thought": "", "state": {}} for i, a in enumerate(actions)]
    path = folder / f"{run_id}.traj"
    path.write_text(json.dumps({"trajectory": steps, "history": [], "info": {}}))
    return path


def _habitual_folder(folder: Path, runs: int) -> Path:
    # Every run: look around, then finish the same way twice (a habit: "ls" is followed by "submit").
    for i in range(runs):
        _write_run(folder, f"run{i:02d}", [f"grep -n bug{i} /r/a.py", "ls", "submit"])
    return folder


class _Spy:
    """Records the order of calls; answers nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def decide_with_type(self, state: AgentState) -> tuple[RouteDecision, str]:
        self.calls.append(("decide", len(state.history)))
        return RouteDecision(None, None, 0.0, True, "watch"), "other"

    def learn(self, record: LearningRecord) -> None:
        assert record.step is not None
        self.calls.append(("learn", record.step))


def test_each_step_is_scored_before_it_is_learned(tmp_path: Path) -> None:
    folder = _habitual_folder(tmp_path / "agent", 2)
    spy = _Spy()
    run_online_route_eval([folder], spy)
    assert spy.calls[:6] == [("decide", 0), ("learn", 0), ("decide", 1), ("learn", 1), ("decide", 2), ("learn", 2)]


def test_habits_graduate_during_the_replay_and_the_curve_adds_up(tmp_path: Path) -> None:
    folder = _habitual_folder(tmp_path / "agent", 20)
    result = run_online_route_eval([folder], ShadowRouter(rule=RULE), baselines={"repeat_last": RepeatLastPolicy()},
                                   window=10)
    assert result["n_steps"] == 60
    assert result["answered"] == result["n_answered"] > 0
    assert result["precision"] == 1.0
    # Early runs are only watched; the answers come once the habit has its proof.
    curve = result["learning_curve"]
    assert curve[0]["answered"] == 0 and curve[-1]["answered"] > 0
    assert sum(p["window"] for p in curve) == 60
    assert sum(p["answered"] for p in curve) == result["answered"]
    assert result["per_group"]["agent"]["learning_curve"] == curve
    assert result["habits"]["agent"]["live"] >= 1
    for key in ("coverage", "precision", "type_top1", "baselines", "per_group", "latency_us"):
        assert key in result
    assert result["baselines"]["repeat_last"]["n_steps"] == 60


def test_the_report_explains_its_coverage(tmp_path: Path) -> None:
    folder = _habitual_folder(tmp_path / "agent", 20)
    result = run_online_route_eval([folder], ShadowRouter(rule=RULE), window=10)
    group = result["per_group"]["agent"]
    # Escalated steps by the real action's type: every grep and every early watched step.
    assert sum(group["escalated_types"].values()) == 60 - result["answered"]
    assert group["escalated_types"]["search"] == 20
    habits = result["habits"]["agent"]
    # "ls" and "submit" recur (a recurring-command candidate reproduces them once seen in 3 runs); no grep does.
    assert 0 < habits["reproducible_share"] <= 40 / 60
    assert result["ceiling"]["reproducible_share"] == habits["reproducible_steps"] / 60
    # In hindsight grep -> ls and ls -> submit answer every step once the commands recur (17 runs of 20 each),
    # more than the replay, which first had to prove them.
    assert result["answered"] < max(habits["hindsight_hits"].values()) == 34
    assert set(habits["hindsight_coverage"]) == {"coarse", "middle", "fine"}
    assert isinstance(habits["near_misses"], list)


def test_folders_are_separate_agents(tmp_path: Path) -> None:
    a = _habitual_folder(tmp_path / "a", 20)
    b = tmp_path / "b"
    for i in range(3):
        _write_run(b, f"other{i}", [f"grep -n x{i} /r/b.py", "ls", "submit"])
    result = run_online_route_eval([a, b], ShadowRouter(rule=RULE))
    # b has too few runs of its own to prove anything, whatever a learned.
    assert result["per_group"]["b"]["n_answered"] == 0
    assert result["per_group"]["a"]["n_answered"] > 0


def test_excluded_runs_are_not_replayed(tmp_path: Path) -> None:
    folder = _habitual_folder(tmp_path / "agent", 4)
    result = run_online_route_eval([folder], ShadowRouter(rule=RULE), exclude_runs=frozenset({"run00", "run01"}))
    assert result["n_runs"] == 2 and result["excluded_runs"] == 2


def test_cli_online_writes_the_report(tmp_path: Path, shared_data: Path) -> None:
    data = shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["eval", "route", "--online", "--model", "none", "--data", str(data), "--max-runs", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads((out / "route.json").read_text())
    assert report["online"] is True and report["prior"] is None
    assert set(report) >= {"coverage", "precision", "type_top1", "baselines", "per_group", "learning_curve", "answered"}
    assert report["n_runs"] == 3
    markdown = (out / "route.md").read_text()
    assert markdown.startswith("# Routing evaluation (prequential") and "## Ceiling" in markdown
    assert set(report["ceiling"]) >= {"reproducible_share", "hindsight_coverage"}
    assert (out / "route.png").stat().st_size > 0
