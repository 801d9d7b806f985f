"""hive bench conflicts: payload shape and the fact-stream bookkeeping (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hive_middleware.cli.app import app
from hive_middleware.evals.conflict_bench import run_conflict_bench


def test_stream_confirms_repeats_and_supersedes_changes() -> None:
    payload = run_conflict_bench(records=200, writes=10, repeats=1, statements=300)
    stream = payload["stream"]
    assert stream["current_records"] == stream["distinct_slots"]
    assert stream["confirmations"] == stream["repeats"]
    assert stream["supersessions"] == stream["changes"]
    assert set(payload["remember_ms"]) == {"episodic", "semantic", "semantic_unresolved"}
    assert all(v["p50"] > 0 for v in payload["remember_ms"].values())


def test_cli_writes_the_report(tmp_path: Path) -> None:
    import hive_middleware.cli.main  # noqa: F401  (registers the commands)

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["bench", "conflicts", "--out", str(out), "--records", "100", "--writes", "10",
                                      "--repeats", "1"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "bench_conflicts.json").read_text())
    assert payload["records"] == 100 and "decide_us" in payload
    assert (out / "bench_conflicts.md").read_text().startswith("# bench conflicts")
