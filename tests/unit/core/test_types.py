from __future__ import annotations

from datetime import datetime
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


_ASSISTANT = "messages[1]"


@pytest.mark.parametrize(
    ("msgs", "where", "hint"),
    [
        ([{"role": "user", "content": "hi"},
          {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": None}]}],
         f"{_ASSISTANT}.tool_calls[0].function", "string 'name'"),
        ([{"role": "user", "content": "hi"},
          {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": "ls"}]}],
         f"{_ASSISTANT}.tool_calls[0].function", "got str"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": 5}],
         f"{_ASSISTANT}.tool_calls", "must be a list"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": ["x"]}],
         f"{_ASSISTANT}.tool_calls[0]", "must be a dict"),
        ([{"role": "user", "content": "hi"},
          {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": 3}}]}],
         f"{_ASSISTANT}.tool_calls[0].function.arguments", "JSON string"),
        ([{"role": ["user"], "content": "hi"}], "messages[0].role", "unknown role"),
        ([{"role": "user", "content": [{"type": "weird"}]}], "messages[0].content[0].type", "unknown content part"),
        ([{"role": "user", "content": [{"type": "text", "text": datetime(2024, 1, 1)}]}],
         "messages[0].content[0].text", "string 'text'"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "at": datetime(2024, 1, 1)}}]}],
         "messages[0].content[0]", "JSON values only"),
        ([{"role": "user", "content": "hi", "name": 7}], "messages[0].name", "must be a string"),
    ],
)
def test_malformed_shapes_are_validation_errors(msgs: list[Any], where: str, hint: str) -> None:
    with pytest.raises(HiveValidationError) as info:
        validate_messages(msgs)
    assert str(info.value).startswith(where)
    assert hint in str(info.value)
    assert info.value.fields["field"] == where.split(".", 1)[1]


def test_message_text_skips_malformed_calls_and_parts() -> None:
    msg = {"role": "assistant", "content": [{"type": "text", "text": "a"}, "loose"],
           "tool_calls": [{"id": "x", "function": None}, "junk", _call("b")]}
    assert message_text(msg) == "a\nbash({})"
    assert message_text({"role": "assistant", "content": "c", "tool_calls": 5}) == "c"
