"""``hive bench hivemind`` end to end: it starts its own servers, kills an agent, restarts Redis, loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hive_middleware.cli.main import app

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("server_programs")
def test_bench_hivemind_small_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "bench", "hivemind", "--out", str(out), "--agents", "4", "--duration", "12", "--memories", "200",
        "--think", "0.2", "--embedder", "hashing", "--workdir", str(tmp_path / "work"),
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "bench_hivemind.json").read_text())
    for key in ("agents", "processes", "memories_written", "memories_lost", "cross_tenant_leaks",
                "channel_delivery_ms", "search_ms", "remember_ms", "limiter_rate_error", "half_open_probes"):
        assert key in payload and key in payload["embedded"], key
    assert payload["agents"] == 4 and payload["processes"] == 5
    assert payload["memories_written"] > 20
    assert payload["killed_agent_acknowledged_writes"] > 0  # the killed agent's writes are among those checked
    assert payload["memories_lost"] == 0
    assert payload["channel_events_lost"] == 0 and payload["channel_duplicates"] == 0
    assert payload["cross_tenant_leaks"] == 0
    assert payload["half_open_probes"] == 1
    assert abs(payload["limiter_rate_error"]) <= 0.02
    assert payload["channel_delivery_ms"]["p50"] is not None  # agents of one tenant heard each other
    assert any("Redis" in event for event in payload["events"])
    assert payload["embedded"]["memories_lost"] == 0 and payload["embedded"]["processes"] == 1
    assert (out / "bench_hivemind.md").is_file() and (out / "bench_hivemind.png").is_file()


def test_bench_hivemind_refuses_a_file_as_out(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(app, ["bench", "hivemind", "--out", str(target)])
    assert result.exit_code != 0
    assert "not a directory" in (result.output + str(result.exception))


def test_bench_hivemind_help_names_the_keys() -> None:
    result = CliRunner().invoke(app, ["bench", "hivemind", "--help"])
    assert result.exit_code == 0
    assert "memories_lost" in result.output and "--postgres" in result.output
