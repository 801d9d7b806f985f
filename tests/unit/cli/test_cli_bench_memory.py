"""`hive bench memory`: writes the documented keys; bad --out is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hive_middleware.cli.main import app

runner = CliRunner()


def test_bench_memory_writes_its_keys(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["bench", "memory", "--out", str(out), "--memories", "200", "--repeats", "1", "--batch", "50",
         "--samples", "20", "--queries", "10", "--embedder", "hashing", "--workdir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "bench_memory.json").read_text())
    for key in ("remember_ms", "search_ms"):
        assert set(payload[key]) == {"p50", "p95", "p99"}
        assert 0 < payload[key]["p50"] <= payload[key]["p99"]
    assert payload["remember_many_per_s"] > 0 and payload["recall_per_s"] > payload["recall_cold_per_s"] > 0
    assert (out / "bench_memory.md").is_file() and (out / "bench_memory.png").is_file()
    assert list(tmp_path.glob("hive-bench-*")) == []  # temporary stores removed


def test_bench_memory_refuses_a_file_as_out(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = runner.invoke(app, ["bench", "memory", "--out", str(target), "--embedder", "hashing"])
    assert result.exit_code != 0
    assert "not a directory" in str(result.exception) + result.output
