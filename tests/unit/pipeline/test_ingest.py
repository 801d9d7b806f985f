"""What a conversation leaves in memory: keys, authors, contexts, causes (one function for product and evals)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_middleware.errors import HiveTenantError, HiveValidationError
from hive_middleware.pipeline import Identity, conversation_items, new_thread_id
from hive_middleware.pipeline.ingest import MEMORY_CONTENT_CHARS

ME = Identity("acme", "billing", "t1")


def _call(call_id: str, command: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": command})}}


CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are careful."},
    {"role": "user", "content": "Deploy billing.", "name": "Ana"},
    {"role": "assistant", "content": None, "tool_calls": [_call("c1", "make deploy"), _call("c2", "make smoke")]},
    {"role": "tool", "tool_call_id": "c1", "name": "bash", "content": "deployed"},
    {"role": "tool", "tool_call_id": "c2", "name": "bash", "content": [{"type": "text", "text": "smoke ok"}]},
    {"role": "assistant", "content": "Billing is live."},
    {"role": "user", "content": "Thanks!"},
]


def test_keys_authors_contexts_and_causes() -> None:
    items = {i.key.split("/", 3)[3]: i for i in conversation_items(CONVERSATION, ME)}
    assert list(items) == ["turn/1", "call/c1", "call/c2", "result/c1", "result/c2", "answer/5", "turn/6"]
    turn, c1, c2, r1, r2, answer, thanks = items.values()
    assert turn.metadata == {"type": "turn", "thread": "t1", "agent": "billing", "author": "Ana"}
    assert c1.content == "bash call: make deploy" and c1.cause == turn.key and c1.metadata["context"] == "Deploy billing."
    assert c1.metadata["author"] == "billing assistant"
    assert r1.cause == c1.key and r1.metadata["context"] == "bash call: make deploy"
    assert r2.content == "bash result: smoke ok" and r2.cause == c2.key  # content parts are read as text
    assert answer.cause == r2.key and answer.metadata["context"] == "bash result: smoke ok"
    assert thanks.cause is None and thanks.metadata["context"] == "Billing is live."
    assert thanks.follows == answer.key and answer.follows is None  # a cause is not linked twice
    assert all(i.identity == ME and i.key.startswith("acme/billing/t1/") for i in items.values())


def test_start_writes_only_new_messages_but_links_them_to_earlier_ones() -> None:
    items = conversation_items(CONVERSATION, ME, start=5)
    assert [i.metadata["type"] for i in items] == ["answer", "turn"]
    assert items[0].cause == ME.key("result", "c2")
    alone = conversation_items(CONVERSATION, ME, start=5, link_earlier=False)
    assert alone[0].cause is None and alone[1].follows == alone[0].key


def test_memory_messages_system_and_blank_messages_leave_nothing() -> None:
    messages = [{"role": "system", "content": "[hive memory] old"}, {"role": "user", "content": "  "},
                {"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]
    assert [i.content for i in conversation_items(messages, ME)] == ["hi"]


def test_local_ids_name_turns_and_long_content_is_clipped() -> None:
    long = "x" * (MEMORY_CONTENT_CHARS + 10)
    (item,) = conversation_items([{"role": "user", "content": long}], ME, local_ids=["msg-9"])
    assert item.key == ME.key("turn", "msg-9")
    assert item.content.endswith("[... 10 more characters]")


def test_legacy_function_messages_are_results() -> None:
    (item,) = conversation_items([{"role": "function", "name": "lookup", "content": "42"}], ME)
    assert item.content == "lookup result: 42" and item.metadata["author"] == "billing tool"


def test_key_parts_are_quoted_so_names_cannot_forge_another_identity() -> None:
    assert Identity("a/b", "c", "d").key("turn", 1) != Identity("a", "b/c", "d").key("turn", 1)
    assert Identity("a", "b", "c").recall_namespace("agent") == ("a", "b")
    with pytest.raises(HiveValidationError, match="recall_scope"):
        Identity("a", "b", "c").recall_namespace("world")  # type: ignore[arg-type]
    with pytest.raises(HiveTenantError):
        Identity("", "b", "c")
    assert new_thread_id() != new_thread_id()


@given(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool", "system"]),
                                       "content": st.text(max_size=40)}), max_size=12))
def test_any_conversation_gives_unique_keys_in_order(messages: list[dict[str, Any]]) -> None:
    items = conversation_items(messages, ME)
    assert len({i.key for i in items}) == len(items)
    assert all(i.content.strip() for i in items)
