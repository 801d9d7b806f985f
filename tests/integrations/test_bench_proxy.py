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
    assert (out / "bench_proxy.md").is_file() and (out / "bench_proxy.png").is_file()
