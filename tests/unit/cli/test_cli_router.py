"""`hive router train`, `hive eval route --model` and `hive bench route` end to end on a small slice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import hive_middleware.cli.main  # noqa: F401  (registers every command)
from hive_middleware.cli.app import app
from hive_middleware.errors import HiveDataError

runner = CliRunner()


def _slice(shared_data: Path, tmp_path: Path, n: int = 8) -> Path:
    folder = tmp_path / "sweagent_lm32b_swebv"
    folder.mkdir()
    for f in sorted((shared_data / "trajectories" / "sweagent_lm32b_swebv").glob("*.traj"))[:n]:
        (folder / f.name).symlink_to(f)
    return folder


def test_train_eval_and_bench(shared_data: Path, tmp_path: Path) -> None:
    data = _slice(shared_data, tmp_path)
    model = tmp_path / "model"
    result = runner.invoke(
        app, ["router", "train", "--data", str(data), "--out", str(model), "--epochs", "2", "--folds", "2",
              "--hidden", "8", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((model / "manifest.json").read_text())
    trained = set(manifest["training"]["training_runs"])
    assert trained and not trained & set(manifest["training"]["heldout_runs"])

    out = tmp_path / "route"
    result = runner.invoke(app, ["eval", "route", "--model", str(model), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "route.json").read_text())
    assert payload["engine"] == "hive"
    assert "sweagent_lm32b_swebv" in payload["per_group"]
    # The engine's training runs are never scored.
    assert payload["n_runs"] == 8 - len(trained)
    assert payload["split"]["excluded_model_training_runs"] == len(trained)

    oracle = tmp_path / "oracle"
    result = runner.invoke(app, ["router", "oracle", "--model", str(model), "--data", str(data), "--out", str(oracle)])
    if len(trained) < 8:
        assert result.exit_code == 0, result.output
        group = json.loads((oracle / "router_oracle.json").read_text())["per_group"]["sweagent_lm32b_swebv"]
        assert 0.0 <= group["oracle_coverage"] <= 1.0 and group["n_runs"] == 8 - len(trained)

    bench = tmp_path / "bench"
    result = runner.invoke(
        app, ["bench", "route", "--model", str(model), "--data", str(data), "--out", str(bench), "--batch", "2000",
              "--repeats", "2"],
    )  # fmt: skip
    if len(trained) < 8:
        assert result.exit_code == 0, result.output
        b = json.loads((bench / "bench_route.json").read_text())
        assert b["routes_per_s"] > 0 and b["latency_us"]["p50"] > 0


def test_train_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["router", "train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "m")])
    assert isinstance(result.exception, HiveDataError)
    proc = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", "router", "train", "--data", str(tmp_path / "missing"),
         "--out", str(tmp_path / "m")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "no such file" in " ".join(proc.stderr.split())
