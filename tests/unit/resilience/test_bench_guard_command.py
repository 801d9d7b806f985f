"""``hive bench guard`` runs end to end on a tiny budget and writes the contract keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hive_middleware.cli.main import app
from hive_middleware.errors import HiveDataError


@pytest.mark.slow
def test_bench_guard_writes_the_contract_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "guard",
            "--out",
            str(tmp_path),
            "--pairs",
            "20",
            "--window-s",
            "0.5",
            "--windows",
            "1",
            "--rate",
            "40",
            "--tasks",
            "5",
            "--callers",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "bench_guard.json").read_text())
    assert set(payload["overhead_ms"]) == {"p50", "p95"}
    assert isinstance(payload["limiter_rate_error"], float)
    assert payload["half_open_probes"] == 1
    assert payload["retry_after_honoured"] is True
    assert (tmp_path / "bench_guard.md").is_file() and (tmp_path / "bench_guard.png").is_file()


def test_bench_guard_rejects_a_file_as_out(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(app, ["bench", "guard", "--out", str(target), "--pairs", "10"])
    assert isinstance(result.exception, HiveDataError) and "not a directory" in result.exception.message
