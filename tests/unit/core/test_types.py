from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.errors import HiveValidationError
from hive_middleware.types import Action, message_text, validate_messages


def _call(cid: str) -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": "bash", "arguments": "{}"}}


def test_valid_conversation_passes() -> None:
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": None, "tool_calls": [_call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    assert validate_messages(msgs) == msgs


@pytest.mark.parametrize(
    ("msgs", "where"),
    [
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": 3}], "messages[0].content"),
        ([{"role": "user", "content": "ok"}, "nope"], "messages[1]"),
        ([{"role": "tool", "tool_call_id": "zz", "content": "x"}], "messages[0].tool_call_id"),
        ([{"role": "user", "content": "\ud800"}], "messages[0].content"),
        ([{"role": "assistant", "tool_calls": [{"type": "function"}]}], "messages[0].tool_calls[0].id"),
        ([{"role": "user", "content": [{"text": "no type"}]}], "messages[0].content[0]"),
    ],
)
def test_errors_name_index_and_field(msgs: list[Any], where: str) -> None:
    with pytest.raises(HiveValidationError) as info:
        validate_messages(msgs)
    assert str(info.value).startswith(where)


def test_not_a_list() -> None:
    with pytest.raises(HiveValidationError, match="list"):
        validate_messages("hello")


def test_max_chars() -> None:
    with pytest.raises(HiveValidationError, match="over the configured maximum"):
        validate_messages([{"role": "user", "content": "x" * 11}], max_chars=10)


def test_message_text_includes_tool_calls() -> None:
    text = message_text({"role": "assistant", "content": "look", "tool_calls": [_call("a")]})
    assert text == "look\nbash({})"


@given(
    st.lists(st.text(alphabet="abc-.", min_size=1, max_size=5), min_size=1, max_size=5),
    st.lists(st.text(alphabet=" \t\n", min_size=1, max_size=3), min_size=6, max_size=6),
)
def test_action_normalisation_merges_only_whitespace(tokens: list[str], seps: list[str]) -> None:
    spaced = seps[0] + "".join(t + seps[i + 1] for i, t in enumerate(tokens))
    assert Action(command=spaced).normalized() == " ".join(tokens)
    assert Action(command="a b").normalized() != Action(command="ab").normalized()
