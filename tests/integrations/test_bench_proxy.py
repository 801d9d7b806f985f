"""`hive bench proxy`: the real proxy under a small multi-turn load writes the documented keys."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hive_middleware.cli.main import app


def test_bench_proxy_small_run(tmp_path: Path) -> None:
    for module in ("fastapi", "uvicorn", "backoff"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the LiteLLM proxy extras are not installed ({module}); pip install 'litellm[proxy]'")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["bench", "proxy", "--out", str(out), "--requests", "24", "--concurrency", "3", "--turns", "4",
         "--think-ms", "20", "--warmup", "2", "--embedder", "hashing"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "bench_proxy.json").read_text())
    assert payload["requests"] == 24 and payload["errors"] == 0, payload["error_examples"]
    assert payload["conversations"] == 6 and payload["turns"] == 4
    assert payload["hook_overhead_ms"]["p50"] > 0
    assert abs(sum(payload["recall"].values()) - 1.0) < 1e-9
    assert set(payload["recall"]) <= {"fresh", "earlier", "pending", "none"}
    # The same load on the proxy alone, in the same run.
    assert payload["baseline"]["requests_per_s"] > 0
    assert 0 < payload["baseline"]["latency_ms"]["p50"] <= payload["baseline"]["latency_ms"]["p95"]
    assert payload["throughput_ratio"] == pytest.approx(
        payload["requests_per_s"] / payload["baseline"]["requests_per_s"])
    assert isinstance(payload["cpu_ms_per_request"], float)
    assert payload["proxy_cpu_ms_per_request"]["with_hive"] > 0 and payload["proxy_cpu_ms_per_request"]["without"] > 0
    assert payload["cpu_ms_per_request"] == pytest.approx(
        payload["proxy_cpu_ms_per_request"]["with_hive"] - payload["proxy_cpu_ms_per_request"]["without"])
    assert payload["drain_s"] >= 0  # the Hive run waited for its background work, inside its duration
    assert (out / "bench_proxy.md").is_file() and (out / "bench_proxy.png").is_file()
    assert "alone (baseline)" in (out / "bench_proxy.md").read_text()
