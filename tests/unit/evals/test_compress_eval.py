"""The compression evaluation harness and its baselines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from hive_middleware.errors import HiveUsageError
from hive_middleware.evals.compress_eval import (
    BASELINES,
    CLEARED_PLACEHOLDER,
    as_parts,
    as_shape,
    keep_3_clearing,
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
    assert "drop" not in result["baselines"]
    assert set(result["baselines"]) == {"raw", "last_5_masking", "keep_3_clearing"}
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


# ---------------------------------------------------------------------------- keep_3_clearing and shapes


def test_keep_3_clearing_clears_all_but_the_last_three_observations() -> None:
    msgs = _messages(6)
    out = keep_3_clearing(msgs)
    observations = [m["content"] for m in out[3::2]]
    assert observations[:3] == [CLEARED_PLACEHOLDER] * 3
    assert observations[3:] == [m["content"] for m in msgs[3::2]][3:]
    assert out[:3] == msgs[:3] and out[2::2] == msgs[2::2]  # prompts and assistant turns untouched
    assert keep_3_clearing(_messages(3)) == _messages(3)


def test_keep_3_clearing_clears_only_tool_messages_when_there_are_some() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    msgs: list[Message] = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    for i in range(5):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [dict(call, id=f"c{i}")]})
        msgs.append({"role": "tool", "tool_call_id": f"c{i}", "content": f"result {i}"})
        msgs.append({"role": "user", "content": f"user turn {i}"})
    out = keep_3_clearing(msgs)
    tools = [m for m in out if m["role"] == "tool"]
    assert [m["content"] for m in tools] == [CLEARED_PLACEHOLDER] * 2 + ["result 2", "result 3", "result 4"]
    assert [m["tool_call_id"] for m in tools] == [f"c{i}" for i in range(5)]
    assert [m for m in out if m["role"] == "user"] == [m for m in msgs if m["role"] == "user"]


def test_baselines_keep_the_content_shape() -> None:
    parts = as_parts(_messages(7))
    for method in (last_5_masking, keep_3_clearing):
        out = method(parts)
        assert all(isinstance(m["content"], list) for m in out)
        assert out[3]["content"][0]["type"] == "text"  # type: ignore[index]
    assert keep_3_clearing(parts)[3]["content"] == [{"type": "text", "text": CLEARED_PLACEHOLDER}]


def test_parts_count_the_same_tokens_as_strings() -> None:
    msgs = _messages(4)
    parts = as_parts(msgs)
    assert all(isinstance(m["content"], list) and len(m["content"]) == 1 for m in parts)
    assert msgs[0]["content"] == "sys"  # input not modified
    assert (
        list_tokens(parts) == list_tokens(msgs) == count_message_tokens(parts) == count_message_tokens(msgs)
    )
    assert as_shape(msgs, "string") is msgs
    with pytest.raises(HiveUsageError, match="shape"):
        as_shape(msgs, "blocks")


# ---------------------------------------------------------------------------- anchors in the evaluation

VIEW = "Here's the result of running `cat -n` on /repo/calc.py:\n     1\tdef compute_total(items):\n     2\t    return sum(items) + 1\n"


def _anchor_run(tmp: Path, filler: int = 7) -> Path:
    """A 1.x run: view calc.py, ``filler`` unrelated commands, then a str_replace copying the viewed lines."""
    actions = ["str_replace_editor view /repo/calc.py"]
    observations = [VIEW]
    for i in range(filler):
        actions.append(f"python check_{i}.py")
        observations.append("\n".join(f"check {i} line {k}" for k in range(30)))
    actions.append(
        "str_replace_editor str_replace /repo/calc.py   --old_str 'def compute_total(items):\n"
        "    return sum(items) + 1' --new_str 'def compute_total(items):\n    return sum(items)'"
    )
    observations.append("The file /repo/calc.py has been edited.")
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent.", "message_type": "system_prompt"},
        {"role": "user", "content": "Fix compute_total.", "message_type": "observation"},
    ]
    steps = []
    for action, observation in zip(actions, observations, strict=True):
        steps.append({"action": action, "observation": observation, "thought": "", "state": {}})
        history.append({"role": "assistant", "content": action, "action": action, "message_type": "action"})
        history.append(
            {"role": "user", "content": f"OBSERVATION:\n{observation}", "message_type": "observation"}
        )
    path = tmp / "anchor.traj"
    path.write_text(json.dumps({"trajectory": steps, "history": history, "info": {}}))
    return path


class _StubbingMethod:
    """Replaces every observation but the last with a stub naming a handle; keeps originals per run."""

    def __init__(self) -> None:
        self.originals: dict[str, str] = {}
        self.runs = 0

    def start_run(self) -> None:
        self.originals.clear()
        self.runs += 1

    def original(self, handle: str) -> str | None:
        return self.originals.get(handle)

    def __call__(self, messages: list[Message]) -> list[Message]:
        last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
        out: list[Message] = []
        for i, m in enumerate(messages):
            if i >= 2 and m["role"] == "user" and i != last:
                text = m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]  # type: ignore[index]
                handle = "h-" + hashlib.sha256(text.encode()).hexdigest()[:12]
                self.originals[handle] = text
                out.append({"role": "user", "content": f'[dropped: hive_expand("{handle}")]'})
            else:
                out.append(m)
        return out


def test_anchor_retention_visible_and_one_expand_away(tmp_path: Path) -> None:
    path = _anchor_run(tmp_path)
    stubbing = _StubbingMethod()
    result = run_compress_eval([path], {"stub": stubbing, **BASELINES}, "stub", shapes=("string", "parts"))
    raw = result["baselines"]["raw"]
    assert raw["n_anchors"] == 1 and raw["anchor_retention"] == 1.0
    assert raw["anchor_retention_by_kind"] == {
        "old_text": {"n": 1, "anchor_retention": 1.0, "anchor_retention_expandable": 1.0}
    }
    # the view is 8 observations back: last-5 masking and keep-3 clearing have lost it
    for name in ("last_5_masking", "keep_3_clearing"):
        masked = result["baselines"][name]
        assert masked["anchor_retention"] == 0.0 == masked["anchor_retention_expandable"]
    # the stubbing method lost the text too, but its stub names the handle of the original
    assert result["anchor_retention"] == 0.0 and result["anchor_retention_expandable"] == 1.0
    assert stubbing.runs == 1
    for shape in ("string", "parts"):
        per = result["per_shape"][shape]
        assert per["anchor_retention_expandable"] == 1.0
        assert per["per_group"][tmp_path.name]["n_anchors"] == 1
        assert result["baselines"]["raw"]["per_shape"][shape]["token_ratio"] == 1.0
    assert result["shape"] == "string" and result["shapes"] == ["string", "parts"]


def test_parts_shape_reaches_the_method_as_parts(tmp_path: Path) -> None:
    path = _run(tmp_path, 3)
    seen: list[bool] = []

    def spy(messages: list[Message]) -> list[Message]:
        seen.append(all(isinstance(m["content"], list) for m in messages))
        return messages

    result = run_compress_eval([path], {"spy": spy}, "spy", shapes=("parts",))
    assert seen == [True] * 3
    assert result["shape"] == "parts" and result["token_ratio"] == 1.0
    with pytest.raises(HiveUsageError, match="shape"):
        run_compress_eval([path], {"spy": spy}, "spy", shapes=("blocks",))
