"""compress() on every message shape: parts, Anthropic blocks, LangChain, function messages, JSON wrappers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import view

from hive_middleware.compression import CompressionResult, Label, compress, expand
from hive_middleware.compression.artifacts import InMemoryArtifactStore
from hive_middleware.compression.content_types import ContentType
from hive_middleware.errors import HiveValidationError
from hive_middleware.tokens import count_message_tokens
from hive_middleware.types import validate_messages

Messages = list[dict[str, Any]]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
FILE = {"type": "file", "file": {"file_id": "file-abc123"}}


def file_views(turns: int = 30) -> Messages:
    """An OpenAI tool-calling run of ``turns`` file views (string content)."""
    msgs: Messages = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Fix the bug in /repo/pkg/mod_core.py where frobnicate_value fails."},
    ]
    for t in range(turns):
        path = f"/repo/pkg/mod_{t}.py"
        args = json.dumps({"command": "view", "path": path})
        call = {"id": f"call_{t}", "type": "function", "function": {"name": "str_replace_editor", "arguments": args}}
        msgs.append({"role": "assistant", "content": f"Looking at {path}.", "tool_calls": [call]})
        msgs.append({"role": "tool", "tool_call_id": f"call_{t}", "content": view(path, 1, 80)})
    return msgs


def as_parts(msgs: Messages) -> Messages:
    return [{**m, "content": [{"type": "text", "text": m["content"]}]} if m["role"] == "tool" else dict(m) for m in msgs]


def as_anthropic(msgs: Messages, nested_list: bool = False) -> Messages:
    out: Messages = []
    for m in msgs:
        if m["role"] == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}]
            for c in m["tool_calls"]:
                args = json.loads(c["function"]["arguments"])
                blocks.append({"type": "tool_use", "id": c["id"], "name": c["function"]["name"], "input": args})
            out.append({"role": "assistant", "content": blocks})
        elif m["role"] == "tool":
            inner: Any = [{"type": "text", "text": m["content"]}] if nested_list else m["content"]
            out.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": inner}]})
        else:
            out.append(dict(m))
    return out


def run(msgs: Messages, **kwargs: Any) -> CompressionResult:
    return compress(msgs, artifacts=kwargs.pop("artifacts", InMemoryArtifactStore()), **kwargs)


def anthropic_pairs_hold(msgs: Messages) -> None:
    """Every tool_result answers a tool_use of the message just before it, ids equal."""
    for i, m in enumerate(msgs):
        if not isinstance(m.get("content"), list):
            continue
        results = [b["tool_use_id"] for b in m["content"] if b.get("type") == "tool_result"]
        if results:
            prev = msgs[i - 1]["content"]
            uses = [b["id"] for b in prev if b.get("type") == "tool_use"]
            assert results == uses


def test_parts_compress_like_their_string_twin() -> None:
    strings = file_views()
    parts = as_parts(strings)
    a, b = run(strings), run(parts)
    assert a.stats["token_ratio"] < 0.2
    assert abs(a.stats["token_ratio"] - b.stats["token_ratio"]) <= 0.03
    assert not b.stats["budget_impossible"]
    assert [lab.label for lab in a.labels] == [lab.label for lab in b.labels]
    for before, after in zip(parts, b.messages, strict=True):
        assert type(after["content"]) is type(before["content"])  # a list stays a list
        if isinstance(after["content"], list):
            assert [p["type"] for p in after["content"]] == ["text"]
    validate_messages(b.messages)


def test_budget_on_parts_is_met_and_counted_by_litellm() -> None:
    parts = as_parts(file_views(12))
    budget = int(run(parts).stats["tokens_after"] * 0.7)
    result = run(parts, budget=budget)
    assert result.budget_met and result.stats["tokens_after"] <= budget
    assert result.stats["tokens_after"] == count_message_tokens(result.messages)


def test_non_text_parts_pass_through_in_order_and_are_counted() -> None:
    msgs = file_views(8)
    for m in msgs:
        if m["role"] == "tool":
            m["content"] = [IMAGE, {"type": "text", "text": m["content"]}, AUDIO, {"type": "text", "text": "tail note"}, FILE]
    original = copy.deepcopy(msgs)
    result = run(msgs)
    assert msgs == original
    assert result.stats["non_text_parts"] == 3 * 8
    assert result.stats["unpriced_parts"] == 8  # input_audio: litellm cannot price it
    changed = [i for i, lab in enumerate(result.labels) if lab.label not in (Label.CORE,)]
    assert changed
    for i in changed:
        content = result.messages[i]["content"]
        # The rule: one text part (the compressed text, where the first was), non-text parts in order.
        assert [p["type"] for p in content] == ["image_url", "text", "input_audio", "file"]
        assert content[0] == IMAGE and content[2] == AUDIO and content[3] == FILE
    for i, lab in enumerate(result.labels):
        if lab.label is Label.CORE:
            assert result.messages[i] == msgs[i]


def test_anthropic_blocks_compress_like_openai_tool_messages() -> None:
    openai = file_views()
    for nested in (False, True):
        blocks = as_anthropic(openai, nested_list=nested)
        a, b = run(openai), run(blocks)
        assert abs(a.stats["token_ratio"] - b.stats["token_ratio"]) <= 0.03
        assert [lab.label for lab in a.labels] == [lab.label for lab in b.labels]
        assert [lab.content_type for lab in a.labels] == [lab.content_type for lab in b.labels]
        anthropic_pairs_hold(b.messages)
        for before, after in zip(blocks, b.messages, strict=True):
            if before["role"] == "assistant":
                assert after == before  # tool_use blocks untouched
            if isinstance(before["content"], list) and before["content"][0]["type"] == "tool_result":
                block = after["content"][0]
                assert block["type"] == "tool_result" and block["tool_use_id"] == before["content"][0]["tool_use_id"]
                assert type(block["content"]) is type(before["content"][0]["content"])


def test_one_user_message_with_several_tool_results_and_text() -> None:
    msgs: Messages = [
        {"role": "system", "content": "agent"},
        {"role": "user", "content": "Fix parse_header in /repo/a.py"},
    ]
    for t in range(6):
        uses = [{"type": "tool_use", "id": f"t{t}{k}", "name": "Read", "input": {"file_path": f"/repo/m{t}{k}.py"}} for k in "ab"]
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": f"Reading two files, round {t}."}, *uses]})
        results: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": f"t{t}{k}", "content": "\n".join(f"{n:6d}\tline_{n} = {k}{t}" for n in range(1, 90))}
            for k in "ab"
        ]
        msgs.append({"role": "user", "content": [*results, {"type": "text", "text": f"<system-reminder>round {t}</system-reminder>"}]})
    msgs.append({"role": "user", "content": "Go on."})
    store = InMemoryArtifactStore()
    result = run(msgs, artifacts=store)
    anthropic_pairs_hold(result.messages)
    first = result.labels[3]
    assert len(first.parts) == 3 and first.parts[0].content_type is ContentType.FILE_VIEW
    assert first.label is not Label.CORE and first.handle in result.handles
    kinds = [b["type"] for b in result.messages[3]["content"]]
    assert kinds == ["tool_result", "tool_result", "text"]
    assert result.messages[3]["content"][2] == msgs[3]["content"][2]  # the reminder text is kept
    for part in first.parts:
        if part.handle:
            assert expand(part.handle, artifacts=store) in {b.get("content") for b in msgs[3]["content"]}
    assert result.stats["tokens_after"] < 0.5 * result.stats["tokens_before"]


def test_langchain_tool_messages_with_list_content() -> None:
    messages = pytest.importorskip("langchain_core.messages")
    from langchain_core.messages import convert_to_openai_messages

    lc: list[Any] = [messages.SystemMessage("agent"), messages.HumanMessage("Fix /repo/pkg/mod_core.py")]
    for t in range(10):
        path = f"/repo/pkg/mod_{t}.py"
        lc.append(messages.AIMessage("", tool_calls=[{"id": f"c{t}", "name": "read_file", "args": {"file_path": path}}]))
        screenshot = {"type": "image_url", "image_url": {"url": f"https://example.test/shot_{t}.png"}}
        blocks = [{"type": "text", "text": view(path, 1, 80)}, screenshot]
        lc.append(messages.ToolMessage(blocks, tool_call_id=f"c{t}", name="read_file"))
    converted = convert_to_openai_messages(lc)
    assert isinstance(converted[3]["content"], list)  # text + image stays a part list
    result = run(converted)
    assert result.stats["token_ratio"] < 0.4
    for before, after in zip(converted, result.messages, strict=True):
        assert type(after["content"]) is type(before["content"])
        assert after.get("tool_call_id") == before.get("tool_call_id")
        assert after.get("name") == before.get("name")
    assert result.labels[3].content_type is ContentType.FILE_VIEW


def test_legacy_function_messages_with_names() -> None:
    msgs: Messages = [{"role": "system", "content": "agent"}, {"role": "user", "content": "Find parse_header"}]
    for t in range(8):
        msgs.append({"role": "assistant", "content": None, "function_call": {"name": "grep", "arguments": json.dumps({"q": f"parse_{t}"})}})
        hits = "\n".join(f"/src/t{t}/file_{k}.py:{k * 7}:    parse_header(value_{k})" for k in range(60))
        msgs.append({"role": "function", "name": "grep", "content": hits})
    result = run(msgs)
    assert result.stats["token_ratio"] < 0.7  # the stubs list the 60 distinct paths of each search
    assert result.labels[2].content_type is ContentType.TOOL_CALL
    assert result.labels[3].content_type is ContentType.SEARCH_RESULTS
    assert result.labels[3].label is Label.DROP
    assert all(a.get("name") == b.get("name") for a, b in zip(msgs, result.messages, strict=True))
    assert all(a.get("function_call") == b.get("function_call") for a, b in zip(msgs, result.messages, strict=True))


def test_json_wrapped_output_keeps_its_keys() -> None:
    msgs = file_views(10)
    for m in msgs:
        if m["role"] == "tool":
            m["content"] = json.dumps({"output": m["content"], "exit_code": 0, "metadata": {"duration_s": 0.1}})
    store = InMemoryArtifactStore()
    result = run(msgs, artifacts=store)
    assert result.labels[3].content_type is ContentType.FILE_VIEW
    changed = next(lab for lab in result.labels if lab.label is not Label.CORE and lab.content_type is ContentType.FILE_VIEW)
    obj = json.loads(result.messages[changed.index]["content"])
    assert list(obj) == ["output", "exit_code", "metadata"] and obj["exit_code"] == 0
    assert "hive_expand" in obj["output"]
    assert changed.handle is not None and expand(changed.handle, artifacts=store) == msgs[changed.index]["content"]


def test_bytes_and_surrogate_escaped_text_are_decoded_with_replacement() -> None:
    raw = b"".join(b"build step %d ok \xff\xfe done\n" % k for k in range(3))
    msgs: Messages = [
        {"role": "user", "content": "run the build"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": raw},
        {"role": "user", "content": [{"type": "text", "text": raw.decode("utf-8", "surrogateescape")}]},
    ]
    result = run(msgs)
    assert result.messages[2]["content"] == raw.decode("utf-8", "replace")
    assert result.messages[3]["content"][0]["text"] == raw.decode("utf-8", "replace")
    validate_messages(result.messages)
    with pytest.raises(HiveValidationError, match="UTF-8"):
        run([{"role": "user", "content": "lone \ud800 surrogate"}])  # not a decoding artefact


def test_every_shape_is_deterministic_and_leaves_the_input_alone() -> None:
    for msgs in (as_parts(file_views(10)), as_anthropic(file_views(10), nested_list=True)):
        snapshot = copy.deepcopy(msgs)
        a, b = run(msgs), run(copy.deepcopy(msgs))
        assert msgs == snapshot
        assert a.messages == b.messages and a.labels == b.labels and a.handles == b.handles
