"""``hive demo``: a recorded run replayed through a LangGraph agent without and with Hive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hive_middleware.integrations.demo_replay import DemoTotals, replay_trajectory, summarize

from hive_middleware.trajectories import read_trajectory
from hive_middleware.types import Action, AgentState, RouteDecision

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "transcripts" / "billing__invoice-1.traj"


class ScriptedRouter:
    """Answers step 3 with the recorded action and step 5 with a wrong one."""

    def __init__(self, actions: list[str]) -> None:
        self.actions = actions

    def decide(self, state: AgentState) -> RouteDecision:
        i = len(state.history)
        if i == 3:
            return RouteDecision(Action(self.actions[3]), "scripted", 0.99, False, "right")
        if i == 5:
            return RouteDecision(Action("ls /nowhere"), "scripted", 0.99, False, "wrong")
        return RouteDecision(None, None, 0.0, True, "escalate")


def test_replay_counts_routes_and_stays_faithful(make_stack: Any) -> None:
    traj = read_trajectory(EXAMPLE)
    actions = [s.action for s in traj.steps]
    stack = make_stack(policy=ScriptedRouter(actions))
    run = replay_trajectory(traj, stack)
    assert run.faithful, "every recorded action ran, in order, with and without Hive"
    assert run.routed == 2 and [w["step"] for w in run.wrong] == [5]
    assert run.wrong[0]["recorded"] == actions[5]
    assert run.llm_calls_without == len(actions) + 1
    assert run.llm_calls_with == run.llm_calls_without - 2
    assert run.input_tokens_with < run.input_tokens_without
    assert run.memories_written >= 2 * len(actions)
    totals = DemoTotals()
    totals.add(run)
    payload = summarize(totals, stack, data=[str(EXAMPLE)], subset="all runs")
    assert {k: payload["routed"][k] for k in ("answered", "wrong", "wrong_rate")} == {
        "answered": 2, "wrong": 1, "wrong_rate": 0.5}
    assert payload["router"] == {"mode": "model"}  # an injected policy, not shadow mode
    assert payload["llm_calls"]["with_wrong_routes_asked"] == payload["llm_calls"]["with"] + 1
    assert [c["type"] for c in payload["why"]["chain"]][:2] == ["tool_call", "tool_result"]
    assert payload["overhead_ms"]["p50"] > 0


def test_hive_demo_command_writes_its_report(tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-m", "hive_middleware.cli.main", "demo", "--out", str(tmp_path / "demo"),
         "--embedder", "hashing"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    payload = json.loads((tmp_path / "demo" / "demo.json").read_text())
    for key in ("llm_calls", "routed", "input_tokens", "memories_written", "why", "overhead_ms"):
        assert key in payload
    assert payload["replay_faithful"] is True
    assert payload["input_tokens"]["with"] < payload["input_tokens"]["without"]
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 0


def test_replays_of_the_same_runs_recall_the_same_memories(tmp_path: Path) -> None:
    """Recall waits (untimed) for the previous step's memories to be indexed: same runs, same tokens."""
    from hive_middleware.integrations.demo_replay import iter_runs, open_demo_stack

    runs = list(iter_runs([EXAMPLE.parent], None))
    tokens = []
    for attempt in range(2):
        stack, cleanup = open_demo_stack(None, tmp_path / f"hive{attempt}", "hashing")
        try:
            tokens.append([replay_trajectory(traj, stack).input_tokens_with for traj in runs])
        finally:
            cleanup()
    assert tokens[0] == tokens[1]


def _write_run(folder: Path, run_id: str, actions: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    steps = [{"action": a, "observation": f"out {i}", "thought": "next", "state": {}} for i, a in enumerate(actions)]
    (folder / f"{run_id}.traj").write_text(json.dumps({
        "trajectory": steps, "info": {"exit_status": "submitted"},
        "history": [{"role": "system", "content": "You are an agent."},
                    {"role": "user", "content": f"Task {run_id}: fix the bug."}],
    }))


def test_demo_routes_only_with_habits_it_saw_the_agent_prove(tmp_path: Path) -> None:
    from hive_middleware.integrations.demo_replay import iter_runs, open_demo_stack

    folder = tmp_path / "habitual_agent"
    for i in range(26):
        _write_run(folder, f"run{i:02d}", [f"grep -n bug{i} src/a.py", "ls src", "submit"])
    stack, cleanup = open_demo_stack(None, tmp_path / "hive", "hashing")
    try:
        totals = DemoTotals()
        for traj in iter_runs([folder], None):
            totals.add(replay_trajectory(traj, stack))
        payload = summarize(totals, stack, data=[str(folder)], subset="all runs")
    finally:
        cleanup()
    runs = payload["per_run"]
    # Watched first: nothing is answered until a habit has 20 observations from 3 runs.
    assert all(r["routed"] == 0 for r in runs[:10])
    assert payload["routed"]["answered"] > 0 and payload["routed"]["wrong"] == 0
    assert payload["replay_faithful"] is True
    router = payload["router"]
    assert router["mode"] == "shadow" and router["live"] >= 1 and router["habits_saved"] >= 1
    assert all(e["agent"] == "habitual_agent" for e in router["live_examples"])
