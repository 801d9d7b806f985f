"""The runnable examples under examples/integrations run offline and print what they show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "integrations"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("langgraph_agent.py", "answer: All invoice tests pass."),
        ("stategraph_nodes.py", "remembered messages: 5"),
        ("litellm_callback.py", "sync answer: Then re-run pytest."),
        ("decorator_loop.py", "steps: 4"),
    ],
)
def test_example_runs(script: str, expected: str, tmp_path: Path) -> None:
    env = {**os.environ, "HIVE_MEMORY__EMBEDDER": "hashing", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert expected in out.stdout
    assert "compressed" in out.stdout or script in ("litellm_callback.py", "decorator_loop.py")
