"""The compression evaluation harness and its baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.compress_eval import (
    BASELINES,
    last_5_masking,
    list_tokens,
    mask_old_observations,
    run_compress_eval,
)
from hive_middleware.tokens import count_message_tokens
from hive_middleware.types import Message


def _run(tmp: Path, n: int, name: str = "run.traj") -> Path:
    """A 1.x run of ``n`` steps; step i views /repo/pkg/mod_i.py seen in the previous observation."""
    steps: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent.", "message_type": "system_prompt"},
        {"role": "user", "content": "Fix the bug in compute_total.", "message_type": "observation"},
    ]
    for i in range(n):
        action = f"str_replace_editor view /repo/pkg/mod_{i}.py"
        observation = "\n".join(
            f"line {k} of output, next see /repo/pkg/mod_{i + 1}.py" for k in range(3 + i)
        )
        steps.append({"action": action, "observation": observation, "thought": "look", "state": {}})
        history.append(
            {"role": "assistant", "content": f"look\n{action}", "action": action, "message_type": "action"}
        )
        history.append(
            {"role": "user", "content": f"OBSERVATION:\n{observation}", "message_type": "observation"}
        )
    path = tmp / name
    path.write_text(json.dumps({"trajectory": steps, "history": history, "info": {}}))
    return path


def _messages(n_obs: int) -> list[Message]:
    msgs: list[Message] = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task\nline2"}]
    for i in range(n_obs):
        msgs.append({"role": "assistant", "content": f"act {i}"})
        msgs.append({"role": "user", "content": "\n".join(["out"] * (i + 1))})
    return msgs


def test_last_5_masking_stubs_all_but_the_last_five_observations() -> None:
    msgs = _messages(8)
    out = last_5_masking(msgs)
    assert len(out) == len(msgs)
    assert out[:2] == msgs[:2]  # system and instance prompt untouched
    observations = [m["content"] for m in out[3::2]]
    assert observations[:3] == [f"Old environment output: ({k} lines omitted)" for k in (1, 2, 3)]
    assert observations[3:] == [m["content"] for m in msgs[3::2]][3:]
    assert [m["content"] for m in out[2::2]] == [m["content"] for m in msgs[2::2]]  # actions kept
    assert msgs[3]["content"] == "out"  # input not modified
    assert mask_old_observations(_messages(4)) == _messages(4)


def test_list_tokens_matches_litellm_for_plain_messages() -> None:
    msgs = _messages(3)
    assert list_tokens(msgs) == count_message_tokens(msgs)


def test_baselines_only_leave_the_top_level_empty(tmp_path: Path) -> None:
    path = _run(tmp_path, 9)
    result = run_compress_eval([path], BASELINES, None)
    assert result["engine"] is None
    assert result["token_ratio"] is None and result["identifier_retention"] is None
    raw = result["baselines"]["raw"]
    masked = result["baselines"]["last_5_masking"]
    assert raw["token_ratio"] == 1.0 and raw["identifier_retention"] == 1.0
    assert 0 < masked["token_ratio"] < 1
    assert set(raw) >= {"token_ratio", "identifier_retention", "per_group", "ms_per_step"}
    assert raw["per_group"][tmp_path.name]["n_steps"] == 9
    # step i uses mod_i.py, seen in observation i-1: 8 uses in all
    assert raw["n_identifiers"] == 8
    # only the last 5 observations stay, but each is one step old: nothing is lost
    assert masked["identifier_retention"] == 1.0


def test_engine_is_reported_at_the_top_level(tmp_path: Path) -> None:
    path = _run(tmp_path, 4)

    def drop_observations(messages: list[Message]) -> list[Message]:
        return [m for i, m in enumerate(messages) if i < 2 or m["role"] == "assistant"]

    result = run_compress_eval([path], {"drop": drop_observations, **BASELINES}, "drop")
    assert result["engine"] == "drop"
    assert "drop" not in result["baselines"] and set(result["baselines"]) == {"raw", "last_5_masking"}
    assert result["identifier_retention"] == 0.0
    assert result["token_ratio"] < result["baselines"]["raw"]["token_ratio"]
    assert result["per_group"][tmp_path.name]["n_runs"] == 1
    with pytest.raises(HiveUsageError):
        run_compress_eval([path], BASELINES, "missing")


def test_real_slice(shared_data: Path) -> None:
    folder = shared_data / "trajectories" / "msb_java_sweagent_gpt-4o-2024-05-13"
    result = run_compress_eval([folder], BASELINES, None, max_runs=2)
    masked = result["baselines"]["last_5_masking"]
    assert result["n_runs"] == 2 and masked["n_steps"] == result["n_steps"] > 0
    assert 0 < masked["token_ratio"] <= 1 and 0 < masked["identifier_retention"] <= 1
