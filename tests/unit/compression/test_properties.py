"""Property tests: any valid message list stays valid, paired, deterministic and reversible."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_middleware.compression import Label, compress, expand
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.tokens import count_message_tokens
from hive_middleware.types import validate_messages

_LINES = st.sampled_from(
    [
        "Traceback (most recent call last):",
        '  File "/repo/pkg/core.py", line 12, in run_job',
        "ValueError: bad value_x",
        "/repo/pkg/mod_a.py:10:    def parse_header(raw):",
        "/repo/pkg/mod_b.py",
        "     5\tdef helper_fn(arg):",
        "    12\t    return other_fn(arg) + 1",
        "collected 3 items",
        "FAILED tests/test_a.py::test_one - AssertionError",
        "== 1 failed, 2 passed in 0.1s ==",
        "\x1b[32mok\x1b[0m",
        "progress 40%\rprogress 100%",
        "plain log line",
        "plain log line",
        "diff --git a/x.py b/x.py",
        "é ü 中文 🚀",
        "",
    ]
)
_TEXT = st.lists(_LINES, min_size=0, max_size=40).map("\n".join)


@st.composite
def message_lists(draw: Any) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(_TEXT)})
    msgs.append({"role": "user", "content": "Task: " + draw(_TEXT)})
    for turn in range(draw(st.integers(0, 8))):
        style = draw(st.sampled_from(["tools", "text", "chat"]))
        if style == "tools":
            n = draw(st.integers(1, 3))
            calls = [
                {"id": f"t{turn}_{k}", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}
                for k in range(n)
            ]
            msgs.append({"role": "assistant", "content": draw(st.one_of(st.none(), _TEXT)), "tool_calls": calls})
            for k in range(n):
                msgs.append({"role": "tool", "tool_call_id": f"t{turn}_{k}", "content": draw(_TEXT)})
        elif style == "text":
            msgs.append({"role": "assistant", "content": "Run it.\n```\npython run.py\n```"})
            msgs.append({"role": "user", "content": "OBSERVATION:\n" + draw(_TEXT)})
        else:
            msgs.append({"role": "assistant", "content": draw(_TEXT)})
            msgs.append({"role": "user", "content": draw(_TEXT)})
    return msgs


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(message_lists(), st.one_of(st.none(), st.integers(20, 3000)))
def test_output_is_valid_paired_and_within_budget_when_possible(msgs: list[dict[str, Any]], budget: int | None) -> None:
    original = copy.deepcopy(msgs)
    store = InMemoryArtifactStore()
    result = compress(msgs, budget=budget, artifacts=store)
    assert msgs == original
    validate_messages(result.messages)
    assert len(result.messages) == len(msgs)
    for before, after in zip(msgs, result.messages, strict=True):
        assert after["role"] == before["role"]
        assert after.get("tool_call_id") == before.get("tool_call_id")
        assert after.get("tool_calls") == before.get("tool_calls")
    if budget is not None:
        tokens = count_message_tokens(result.messages)
        assert tokens == result.stats["tokens_after"]
        assert result.budget_met == (tokens <= budget)
        floor = compress(msgs, budget=1, artifacts=store)
        if floor.stats["tokens_after"] <= budget:
            assert result.budget_met  # met whenever the invariants allow it


@_SETTINGS
@given(message_lists())
def test_deterministic_and_every_handle_round_trips(msgs: list[dict[str, Any]]) -> None:
    store = InMemoryArtifactStore()
    a = compress(msgs, artifacts=store, budget=200)
    b = compress(copy.deepcopy(msgs), artifacts=InMemoryArtifactStore(), budget=200)
    assert a.messages == b.messages
    assert a.labels == b.labels
    for handle, index in a.handles.items():
        assert expand(handle, artifacts=store) == msgs[index]["content"]
        assert a.labels[index].label not in (Label.CORE, Label.COMPACT)
