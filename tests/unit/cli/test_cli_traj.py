"""`hive eval compress`, `hive eval route`, `hive data stats` and `hive demo` end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hive_middleware.cli.main  # noqa: F401  (registers every command)
from hive_middleware.cli.app import app
from hive_middleware.cli.data import detect_kind
from hive_middleware.errors import HiveDataError
from hive_middleware.trajectories import iter_trajectories

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "transcripts"
BILLING = EXAMPLE / "billing__invoice-1.traj"
# The shipped example runs, counted by the reader (the folder may grow).
EXAMPLE_RUNS = list(iter_trajectories([EXAMPLE]))
EXAMPLE_STEPS = sum(len(run.steps) for run in EXAMPLE_RUNS)
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_eval_compress_writes_the_design_keys(tmp_path: Path) -> None:
    code, _ = _invoke("eval", "compress", "--data", str(EXAMPLE), "--out", str(tmp_path))
    assert code == 0
    payload = json.loads((tmp_path / "compress.json").read_text())
    assert {"token_ratio", "identifier_retention", "baselines", "per_group", "ms_per_step"} <= set(payload)
    assert set(payload["baselines"]) >= {"raw", "last_5_masking"}
    raw = payload["baselines"]["raw"]
    assert raw["token_ratio"] == 1.0 and raw["per_group"]["transcripts"]["n_steps"] == EXAMPLE_STEPS
    if payload["engine"] is None:
        assert payload["token_ratio"] is None and "not installed" in payload["note"]
    else:
        assert 0 < payload["token_ratio"] <= 1
    assert (tmp_path / "compress.md").read_text().startswith("# Compression evaluation")
    assert (tmp_path / "compress.png").stat().st_size > 1000


def test_eval_route_baselines_only(tmp_path: Path) -> None:
    code, _ = _invoke(
        "eval", "route", "--data", str(EXAMPLE), "--train", str(EXAMPLE / "billing__invoice-1.traj"),
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    payload = json.loads((tmp_path / "route.json").read_text())
    assert {"coverage", "precision", "type_top1", "escalation_rate", "baselines", "per_group"} <= set(payload)
    assert {"routes_per_s", "latency_us"} <= set(payload)
    assert payload["engine"] is None and payload["coverage"] is None
    assert set(payload["baselines"]) == {"repeat_last", "prev_type"}
    assert payload["split"]["split_folders"] == ["transcripts"]
    assert (tmp_path / "route.png").exists() and (tmp_path / "route.md").exists()


def test_eval_route_on_only_malformed_runs_fails_naming_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "x.traj"
    bad.write_text("{}")
    with pytest.raises(HiveDataError, match=r"no usable trajectory.*trajectory: is missing: 1"):
        _invoke("eval", "route", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert not (tmp_path / "o" / "route.json").exists()


def test_eval_route_skips_malformed_runs_and_steps_and_counts_them(tmp_path: Path) -> None:
    data = tmp_path / "runs"
    data.mkdir()
    shutil.copy(BILLING, data / BILLING.name)
    (data / "broken.traj").write_text("{not json")
    doc = json.loads(BILLING.read_text())
    del doc["trajectory"][1]["action"]
    (data / "stepless.traj").write_text(json.dumps(doc))
    code, _ = _invoke("eval", "route", "--data", str(data), "--out", str(tmp_path / "o"))
    assert code == 0
    payload = json.loads((tmp_path / "o" / "route.json").read_text())
    assert payload["skipped"] == {"<file>: is not valid JSON": 1, "trajectory[].action: is missing": 1}
    assert payload["n_runs"] == 2
    assert "Skipped malformed records" in (tmp_path / "o" / "route.md").read_text()


def test_main_entry_reports_data_errors_with_status_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", "eval", "compress", "--data",
         str(tmp_path / "missing"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no such file or folder" in " ".join(proc.stderr.split())


def test_data_stats_on_trajectories(tmp_path: Path) -> None:
    out = tmp_path / "stats.json"
    code, output = _invoke("data", "stats", str(BILLING), "--json", str(out))
    assert code == 0 and "action types" in output
    stats = json.loads(out.read_text())["paths"][str(BILLING)]
    assert stats["runs"] == 1 and stats["steps"] == 8
    assert stats["action_types"] == {"view": 2, "search": 2, "edit": 1, "run_test": 2, "submit": 1}
    assert stats["observation_tokens"]["sum"] > 0


def test_detect_kind_by_content(tmp_path: Path) -> None:
    locomo = tmp_path / "conv.json"
    locomo.write_text(json.dumps([{"sample_id": "a", "conversation": {}, "qa": []}]))
    assert detect_kind(locomo) == "locomo"
    traj = tmp_path / "run.json"
    shutil.copy(EXAMPLE / "billing__invoice-1.traj", traj)
    assert detect_kind(traj) == "trajectories"
    assert detect_kind(EXAMPLE) == "trajectories"
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(HiveDataError, match="neither"):
        detect_kind(other)


def test_data_stats_on_locomo(shared_data: Path) -> None:
    code, output = _invoke("data", "stats", str(shared_data / "locomo" / "locomo_dev.json"))
    assert code == 0 and "conversations" in output and "multi_hop" in output


def test_demo_runs_offline_on_the_example(tmp_path: Path) -> None:
    code, _ = _invoke("demo", "--baselines", "--embedder", "hashing", "--out", str(tmp_path))
    assert code == 0
    demo = json.loads((tmp_path / "demo.json").read_text())
    assert demo["runs"] == len(EXAMPLE_RUNS) >= 4 and demo["steps"] == EXAMPLE_STEPS
    assert demo["replay_faithful"] is True
    assert demo["llm_calls"]["with"] <= demo["llm_calls"]["without"]
    assert demo["input_tokens"]["with"] < demo["input_tokens"]["without"]
    assert demo["memories_written"] > 0
    compress = demo["baselines"]["compress"]
    assert compress["baselines"]["raw"]["token_ratio"] == 1.0
    assert compress["baselines"]["last_5_masking"]["token_ratio"] < 1.0
    assert (tmp_path / "demo.md").is_file() and (tmp_path / "demo.png").is_file()


def test_demo_skips_the_runs_the_router_was_trained_on(tmp_path: Path, shared_data: Path) -> None:
    from hive_middleware.cli.demo import router_training

    training = router_training(None)
    assert training["groups"] and len(training["runs"]) > 10
    folder = tmp_path / "runs"
    folder.mkdir()
    source = shared_data / "trajectories" / next(iter(training["groups"]))
    by_name = {p.stem: p for p in source.rglob("*.traj")}
    trained = next(r for r in training["runs"] if r in by_name)
    unseen = next(name for name in sorted(by_name) if name not in set(training["runs"]))
    for name in (trained, unseen):
        shutil.copy(by_name[name], folder / by_name[name].name)
    code, output = _invoke("demo", "--data", str(folder), "--embedder", "hashing", "--out", str(tmp_path / "o"))
    assert code == 0, output
    demo = json.loads((tmp_path / "o" / "demo.json").read_text())
    assert demo["runs"] == 1 and demo["router_training"]["skipped"] == 1
    assert "trained on" in output
    code, output = _invoke("demo", "--data", str(folder), "--include-trained", "--limit", "2", "--embedder",
                           "hashing", "--out", str(tmp_path / "o2"))
    assert code == 0 and json.loads((tmp_path / "o2" / "demo.json").read_text())["runs"] == 2
