"""Speculative pre-execution in a real ``create_agent`` agent and in ``@agent`` step functions.

The tools are real (they read and write files in a temporary directory); only the
model is a fake. The model "thinks" until the speculative run has started, the
way a real model's latency leaves time for it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hive_middleware.integrations.decorator import HiveStep, agent
from hive_middleware.integrations.langgraph import HiveMiddleware
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool, tool

from hive_middleware.errors import HiveUsageError, HiveValidationError
from hive_middleware.pipeline.speculation import SpeculationOptions, is_read_only, read_only
from hive_middleware.testing.chat_models import ToolCallingFakeChatModel, tool_call_message


class Workspace:
    """A directory with real read and write tools; counts every execution and where it ran."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "a.py").write_text("v1")
        self.reads: list[str] = []
        self.speculative_reads = 0
        self.writes = 0
        self.lock = threading.Lock()

    def read(self, path: str) -> str:
        with self.lock:
            self.reads.append(path)
            if threading.current_thread().name.startswith("hive-speculate"):
                self.speculative_reads += 1
        return (self.root / path).read_text()

    def write(self, path: str, text: str) -> str:
        with self.lock:
            self.writes += 1
        (self.root / path).write_text(text)
        return f"wrote {Path(path).name}"

    def tools(self, *, mark: bool = True) -> list[BaseTool]:
        ws = self

        @tool
        def read_file(path: str) -> str:
            """Read a file of the workspace."""
            return ws.read(path)

        @tool
        def write_file(path: str, text: str) -> str:
            """Write a file of the workspace."""
            return ws.write(path, text)

        return [read_only(read_file) if mark else read_file, write_file]


def script(root: Path) -> list[BaseMessage]:
    """Read, write, read, write, read the same file (absolute paths: the cache fingerprints the file)."""
    a = str(root / "a.py")
    return [
        tool_call_message("read_file", {"path": a}, "r1"),
        tool_call_message("write_file", {"path": a, "text": "v2"}, "w1"),
        tool_call_message("read_file", {"path": a}, "r2"),
        tool_call_message("write_file", {"path": a, "text": "v3"}, "w2"),
        tool_call_message("read_file", {"path": a}, "r3"),
        AIMessage(content="done"),
    ]


def think(queued: Any) -> None:
    """Wait (at most 5 s) until every speculative call submitted for this step has started."""
    deadline = time.monotonic() + 5
    while queued() and time.monotonic() < deadline:
        time.sleep(0.005)


def thinking_model(middleware: list[HiveMiddleware], root: Path) -> ToolCallingFakeChatModel:
    """Replies from :func:`script`; before answering it waits (up to 5 s) for the speculation of this turn to start."""

    def respond(messages: list[BaseMessage]) -> BaseMessage:
        speculator = middleware[0].speculator
        assert speculator is not None
        think(speculator.queued)
        return replies[sum(isinstance(m, AIMessage) for m in messages)]

    replies = script(root)

    return ToolCallingFakeChatModel(respond=respond)


def _tool_contents(out: dict[str, Any]) -> dict[str, str]:
    return {m.tool_call_id: str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)}


@pytest.mark.parametrize("marked", [True, False], ids=["read_only-marker", "read_only_tools-option"])
def test_agent_serves_predicted_reads_from_speculation_and_never_runs_a_write(
    make_stack: Any, tmp_path: Path, marked: bool
) -> None:
    ws = Workspace(tmp_path)
    events: list[Any] = []
    holder: list[HiveMiddleware] = []
    middleware = HiveMiddleware(
        make_stack(), compress=False, recall_k=0, remember=False, on_event=events.append,
        speculate=SpeculationOptions(k=3, budget_s=30), read_only_tools=None if marked else ["read_file"],
    )
    holder.append(middleware)
    agent_ = create_agent(thinking_model(holder, tmp_path), tools=ws.tools(mark=marked), middleware=[middleware])
    out = agent_.invoke({"messages": [{"role": "user", "content": "update a.py twice"}]})

    stats = middleware.speculator.stats if middleware.speculator else None
    assert stats is not None
    assert ws.writes == 2, "the write tool ran only when the model called it"
    assert stats.hits >= 1
    assert any(e.kind == "speculation_hit" for e in events)
    # Every read the model asked for ran once; the other executions are the counted waste.
    assert len(ws.reads) == 3 + stats.wasted + stats.failed
    assert ws.speculative_reads == stats.speculated
    # Served results are fresh: each read sees the write before it.
    assert _tool_contents(out) == {"r1": "v1", "w1": "wrote a.py", "r2": "v2", "w2": "wrote a.py", "r3": "v3"}


def test_async_agent_claims_speculative_reads_too(make_stack: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    holder: list[HiveMiddleware] = []
    middleware = HiveMiddleware(make_stack(), compress=False, recall_k=0, remember=False, speculate=2)
    holder.append(middleware)
    agent_ = create_agent(thinking_model(holder, tmp_path), tools=ws.tools(), middleware=[middleware])
    out = asyncio.run(agent_.ainvoke({"messages": [{"role": "user", "content": "update a.py twice"}]}))
    assert middleware.speculator is not None and middleware.speculator.stats.hits >= 1
    assert ws.writes == 2
    assert _tool_contents(out)["r3"] == "v3"


def test_without_read_only_tools_nothing_is_speculated(make_stack: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    holder: list[HiveMiddleware] = []
    middleware = HiveMiddleware(make_stack(), compress=False, recall_k=0, remember=False, speculate=3)
    holder.append(middleware)
    agent_ = create_agent(thinking_model(holder, tmp_path), tools=ws.tools(mark=False), middleware=[middleware])
    agent_.invoke({"messages": [{"role": "user", "content": "update a.py twice"}]})
    assert middleware.speculator is not None
    assert middleware.speculator.stats.speculated == 0
    assert ws.speculative_reads == 0 and len(ws.reads) == 3


def test_read_only_marks_a_langchain_tool(tmp_path: Path) -> None:
    read_tool, write_tool = Workspace(tmp_path).tools(mark=True)
    assert is_read_only(read_tool) and read_tool.metadata == {"read_only": True}
    assert not is_read_only(write_tool)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"speculate": "3"}, "speculate must be an int"), ({"read_only_tools": "read_file"}, "not one string"),
     ({"speculate": 99}, "from 0 to 16")],
)
def test_bad_speculation_options_are_clear_errors(make_stack: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(HiveValidationError, match=match):
        HiveMiddleware(make_stack(), **kwargs)


# ---------------------------------------------------------------- @agent step functions


def _call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def test_step_function_serves_run_tool_from_speculation(make_stack: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    a = str(tmp_path / "a.py")
    replies = iter([
        _call("read_file", {"path": a}, "r1"),
        _call("write_file", {"path": a, "text": "v2"}, "w1"),
        _call("read_file", {"path": a}, "r2"),
    ])

    @agent(stack=make_stack(), compress=False, recall_k=0, remember=False, speculate=2,
           read_only_tools={"read_file": ws.read})
    def step(messages: list[dict[str, Any]]) -> dict[str, Any]:
        hive: HiveStep = step.hive()  # type: ignore[attr-defined]
        assert hive.speculator is not None
        think(hive.speculator.queued)  # the model thinks while the speculation runs
        return {"role": "assistant", "content": None, "tool_calls": [next(replies)]}

    hive: HiveStep = step.hive()  # type: ignore[attr-defined]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "update a.py"}]
    outputs = []
    for _ in range(3):
        reply = step(messages)
        call = reply["tool_calls"][0]
        name, args = call["function"]["name"], json.loads(call["function"]["arguments"])
        run = (lambda a=args: ws.write(**a)) if name == "write_file" else None
        output = hive.run_tool(name, args, run=run)
        outputs.append(output)
        messages += [reply, {"role": "tool", "tool_call_id": call["id"], "content": output}]
    assert outputs == ["v1", "wrote a.py", "v2"]
    assert hive.speculator is not None and hive.speculator.stats.hits == 1
    assert ws.writes == 1
    assert len(ws.reads) == 2 + hive.speculator.stats.wasted
    assert any(e.kind == "speculation_hit" for e in hive.events)
    hive.close()


def test_run_tool_caches_read_only_tools_and_needs_a_runner_for_others(make_stack: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    hive = HiveStep(make_stack(), read_only_tools={"read_file": ws.read})
    assert hive.run_tool("read_file", {"path": "a.py"}) == "v1"
    assert hive.run_tool("read_file", {"path": "a.py"}) == "v1"
    assert ws.reads == ["a.py"]
    with pytest.raises(HiveUsageError, match="run="):
        hive.run_tool("write_file", {"path": "a.py", "text": "x"})
    assert asyncio.run(hive.arun_tool("read_file", {"path": "a.py"})) == "v1"


def test_decorator_speculation_needs_read_only_tools(make_stack: Any) -> None:
    with pytest.raises(HiveValidationError, match="read_only_tools"):
        HiveStep(make_stack(), speculate=3)
