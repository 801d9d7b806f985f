"""Pipeline(compress_inline=True): async drivers compress on the event loop, with the same result."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from hive_middleware.pipeline import Identity, Pipeline
from hive_middleware.pipeline.core import CallOptions

LONG = "\n".join(f"src/app/handler_{i}.py:{i}: result = step_{i}(request)" for i in range(300))
MESSAGES: list[Any] = [
    {"role": "system", "content": "You fix bugs."},
    {"role": "user", "content": "Find the slow handler."},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "grep -rn step src"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": LONG},
    {"role": "user", "content": "Which one?"},
]


class ThreadRecordingStack:
    """A stack whose compress notes the thread it ran on and shortens the tool output."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def compress(self, messages: list[Any], *, budget: int | None = None, model: str | None = None) -> Any:
        self.threads.append(threading.get_ident())
        return type("Result", (), {"messages": [{**m, "content": "[short]"} if m["role"] == "tool" else m
                                                for m in messages], "stats": None, "handles": None})()


def _prepare(inline: bool) -> tuple[Any, int, ThreadRecordingStack]:
    stack = ThreadRecordingStack()
    pipeline = Pipeline(stack, options=CallOptions(recall_k=0, route=False), compress_inline=inline)

    async def run() -> tuple[Any, int]:
        prepared = await pipeline.aprepare(MESSAGES, Identity("t", "a", "th"))
        return prepared, threading.get_ident()

    prepared, loop_thread = asyncio.run(run())
    return prepared, loop_thread, stack


def test_inline_compression_runs_on_the_loop_thread_with_the_same_result() -> None:
    inline, loop_thread, stack = _prepare(True)
    assert stack.threads == [loop_thread]
    threaded, loop_thread, stack = _prepare(False)
    assert stack.threads and stack.threads[0] != loop_thread  # the default: a worker thread
    assert inline.messages == threaded.messages and inline.compressed and threaded.compressed
    assert inline.messages[3]["content"] == "[short]"


def test_inline_compression_fails_open() -> None:
    class Failing(ThreadRecordingStack):
        def compress(self, messages: list[Any], *, budget: int | None = None, model: str | None = None) -> Any:
            raise RuntimeError("compressor broke")

    pipeline = Pipeline(Failing(), options=CallOptions(recall_k=0, route=False), compress_inline=True)
    prepared = asyncio.run(pipeline.aprepare(MESSAGES, Identity("t", "a", "th")))
    assert prepared.messages == MESSAGES and not prepared.compressed
    assert [e.kind for e in prepared.events] == ["hook_error"] and pipeline.stats.get("hook_error.compress") == 1
