"""``hive eval speculate``: hit rate, tool seconds saved and waste on hand-made and real trajectories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hive_middleware.cli.main import app, run
from hive_middleware.errors import HiveDataError, HiveUsageError
from hive_middleware.evals.speculate_eval import SPECULATE_KEYS, execution_times, run_speculate_eval
from hive_middleware.routing.speculate import predict_next
from hive_middleware.trajectories import read_trajectory

runner = CliRunner()
VIEW = "str_replace_editor view /r/a.py --view_range {} {}"


def write_run(folder: Path, name: str, steps: list[Any], *, version: str = "1.x") -> Path:
    """A minimal SWE-agent run: 1.x records execution_time per step, 0.x none."""
    folder.mkdir(parents=True, exist_ok=True)
    trajectory = []
    for step in steps:
        if not isinstance(step, tuple):
            trajectory.append(step)  # malformed on purpose
            continue
        action, observation, seconds = step
        entry: dict[str, Any] = {"action": action, "observation": observation, "thought": "", "response": ""}
        if version == "1.x":
            entry["state"] = {"working_dir": "/r"}
            entry["execution_time"] = seconds
        else:
            entry["state"] = json.dumps({"working_dir": "/r", "open_file": "n/a"})
        trajectory.append(entry)
    info = {"exit_status": "submitted", "submission": ""}
    if version == "1.x":
        info["swe_agent_version"] = "1.0.1"
    path = folder / f"{name}.traj"
    path.write_text(json.dumps({"trajectory": trajectory, "history": [], "info": info}))
    return path


STEPS_1X = [
    (VIEW.format(1, 20), "lines 1-20", 1.0),  # read-only, nothing predicts it
    (VIEW.format(20, 39), "lines 20-39", 2.0),  # read-only, the scroll continuation predicts it
    ("str_replace_editor str_replace /r/a.py --old_str x --new_str y", "The file /r/a.py has been edited.", 0.5),
    ("grep -n foo /r/b.py", "3:foo", 4.0),  # read-only, not predicted
]


def test_hit_rate_seconds_saved_and_waste_on_a_hand_made_run(tmp_path: Path) -> None:
    folder = tmp_path / "agent_a"
    path = write_run(folder, "run1", STEPS_1X)
    result = run_speculate_eval([folder], k=3)
    assert result["read_only_steps"] == 3
    assert result["hit_rate"] == pytest.approx(1 / 3)
    assert result["tool_seconds_saved_ratio"] == pytest.approx(2.0 / 7.0)
    assert result["k"] == 3
    # Waste, counted independently: every pre-executed command that was not the agent's action.
    run = read_trajectory(path)
    for k in (1, 3, 5):
        executed = sum(len(predict_next(s.state, k)) for s in run.steps)
        assert result["wasted_executions_per_step_by_k"][str(k)] == pytest.approx((executed - 1) / 4)
    assert result["wasted_executions_per_step"] == result["wasted_executions_per_step_by_k"]["3"]
    assert list(result["hit_rate_by_k"]) == ["1", "2", "3", "4", "5"]
    assert result["by_rule"] == {"scroll": 1}
    assert result["by_type"]["view"] == {"steps": 2, "hit_rate": 0.5}
    assert set(SPECULATE_KEYS) <= set(result["per_group"]["agent_a"])
    assert result["predict_us"]["p50"] > 0


def test_runs_without_recorded_times_report_null_savings(tmp_path: Path) -> None:
    old = tmp_path / "agent_old"
    write_run(old, "run1", [(a, o, 0.0) for a, o, _ in STEPS_1X], version="0.x")
    new = tmp_path / "agent_new"
    write_run(new, "run1", STEPS_1X)
    result = run_speculate_eval([old, new], k=3)
    assert result["per_group"]["agent_old"]["tool_seconds_saved_ratio"] is None
    assert result["per_group"]["agent_old"]["hit_rate"] == pytest.approx(1 / 3)
    assert result["per_group"]["agent_new"]["tool_seconds_saved_ratio"] == pytest.approx(2.0 / 7.0)
    # Overall, only the steps with a recorded time count.
    assert result["tool_seconds_saved_ratio"] == pytest.approx(2.0 / 7.0)
    assert result["read_only_steps"] == 6


def test_execution_times_stay_aligned_when_a_malformed_step_is_skipped(tmp_path: Path) -> None:
    steps = [STEPS_1X[0], {"observation": "no action"}, *STEPS_1X[1:]]
    run = read_trajectory(write_run(tmp_path / "g", "run1", steps))
    assert len(run.steps) == 4
    assert execution_times(run) == [1.0, 2.0, 0.5, 4.0]


@pytest.mark.parametrize(("kwargs", "match"), [({"k": 0}, "--k"), ({"k": 6}, "--k"), ({"max_k": 0}, "max_k")])
def test_bad_k_is_a_usage_error(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    folder = tmp_path / "g"
    write_run(folder, "run1", STEPS_1X)
    with pytest.raises(HiveUsageError, match=match):
        run_speculate_eval([folder], **kwargs)


def test_a_folder_without_usable_runs_is_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "broken.traj").write_text("{not json")
    with pytest.raises(HiveDataError, match="no usable trajectory"):
        run_speculate_eval([folder])


def test_habit_replay_can_only_add_proposals(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    for i in range(3):
        write_run(folder, f"run{i}", STEPS_1X)
    plain = run_speculate_eval([folder], k=3)
    with_habits = run_speculate_eval([folder], k=3, habits=True)
    assert with_habits["habits"] is True
    assert with_habits["read_only_steps"] == plain["read_only_steps"]
    assert with_habits["hit_rate"] >= plain["hit_rate"]


def test_cli_writes_json_markdown_and_png(tmp_path: Path) -> None:
    folder = tmp_path / "agent_a"
    write_run(folder, "run1", STEPS_1X)
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "speculate", "--data", str(folder), "--out", str(out), "--k", "2"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "speculate.json").read_text())
    assert payload["k"] == 2 and payload["hit_rate"] == pytest.approx(1 / 3)
    markdown = (out / "speculate.md").read_text()
    assert "| agent_a |" in markdown and "Hit rate by k" in markdown
    assert (out / "speculate.png").stat().st_size > 1000


def test_cli_bad_path_exits_non_zero_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["eval", "speculate", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert info.value.code not in (0, None)
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such file or folder" in err
    assert not (tmp_path / "out").exists()


def test_on_real_runs_every_figure_is_a_rate(shared_data: Path) -> None:
    folders = [shared_data / "trajectories" / "sweagent_lm32b_swebv",
               shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"]
    result = run_speculate_eval(folders, k=3, max_runs=3)
    assert result["n_runs"] == 6
    assert 0 < result["read_only_steps"] <= result["n_steps"]
    for entry in (result, *result["per_group"].values()):
        curve = [entry["hit_rate_by_k"][str(k)] for k in range(1, 6)]
        assert all(0.0 <= x <= 1.0 for x in curve)
        assert curve == sorted(curve), "a larger k can only hit more"
    assert result["per_group"]["sweagent_lm32b_swebv"]["tool_seconds_saved_ratio"] is not None
    assert result["per_group"]["msb_java_sweagent_gpt-4o-2024-05-13"]["tool_seconds_saved_ratio"] is None
