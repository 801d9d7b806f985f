"""`hive bench compress`: writes the documented keys; bad input is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hive_middleware.cli.main import app

runner = CliRunner()


def test_bench_compress_on_synthetic_transcripts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["bench", "compress", "--out", str(out), "--lists", "1", "--size", "20", "--repeats", "1",
         "--short-messages", "300"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "bench_compress.json").read_text())
    assert payload["classification"]["msgs_per_s"] > 0
    assert payload["classification"]["n_messages"] == 300
    for regime in ("cold", "agent_loop", "warm"):
        assert set(payload["latency_ms"][regime]) == {"p50", "p95", "mean"}
        assert payload["latency_ms"][regime]["p50"] > 0
    assert payload["token_counts_cached"] is True
    assert payload["list_size"] == 20
    assert (out / "bench_compress.md").is_file() and (out / "bench_compress.png").is_file()


def test_bench_compress_on_a_real_run(tmp_path: Path, shared_data: Path) -> None:
    run = sorted((shared_data / "trajectories" / "sweagent_lm32b_swebv").glob("[!_]*.traj"))[0]
    result = runner.invoke(
        app,
        ["bench", "compress", "--out", str(tmp_path / "o"), "--data", str(run), "--lists", "1", "--size", "10",
         "--repeats", "1", "--short-messages", "100"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "o" / "bench_compress.json").read_text())
    assert payload["data"] == [str(run)]


def test_bench_compress_bad_out(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = runner.invoke(app, ["bench", "compress", "--out", str(target)])
    assert result.exit_code != 0
    assert "not a directory" in str(result.exception) + result.output
