"""``hive mcp`` over stdio, driven by the MCP SDK's own client."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

TOOLS = {
    "memory_add",
    "memory_search",
    "memory_recall",
    "memory_forget",
    "memory_history",
    "graph_traverse",
    "channel_publish",
    "channel_feed",
    "hive_expand",
}


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _session_run(data_dir: Path) -> None:
    env = dict(os.environ, HIVE_MEMORY__EMBEDDER="hashing", HIVE_DATA_DIR=str(data_dir))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hive_middleware.cli.main", "mcp", "--data-dir", str(data_dir)],
        env=env,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert names >= TOOLS
        added = _data(
            await session.call_tool("memory_add", {"content": "the deploy uses blue-green", "key": "deploy"})
        )
        assert added["key"] == "deploy"
        _data(await session.call_tool("memory_add", {"content": "the deploy uses canary", "key": "deploy"}))
        recalled = _data(await session.call_tool("memory_recall", {"key": "deploy"}))
        assert recalled["record"]["content"] == "the deploy uses canary"
        history = _data(await session.call_tool("memory_history", {"key": "deploy"}))
        assert len(history["versions"]) == 2
        hits = _data(await session.call_tool("memory_search", {"query": "canary deploy", "k": 5}))
        assert any(h["key"] == "deploy" for h in hits["results"])
        _data(await session.call_tool("memory_forget", {"key": "deploy", "reason": "obsolete"}))
        assert _data(await session.call_tool("memory_recall", {"key": "deploy"}))["record"] is None
        bad = await session.call_tool("memory_add", {"content": "   "})
        assert bad.is_error
        text = str(getattr(bad.content[0], "text", ""))
        assert "Traceback" not in text and text.strip()


def test_stdio_round_trip(tmp_path: Path) -> None:
    anyio.run(_session_run, tmp_path)


async def _expand_run(data_dir: Path, handle: str) -> str:
    env = dict(os.environ, HIVE_MEMORY__EMBEDDER="hashing")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hive_middleware.cli.main", "mcp", "--data-dir", str(data_dir)],
        env=env,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        missing = await session.call_tool("hive_expand", {"handle": "no-such-handle"})
        assert missing.is_error
        return str(_data(await session.call_tool("hive_expand", {"handle": handle}))["content"])


def test_stdio_expands_a_stored_handle(tmp_path: Path) -> None:
    from hive_middleware.compression.artifacts import make_handle
    from hive_middleware.config import HiveConfig
    from hive_middleware.stack import HiveStack

    original = "line of a long tool output\n" * 200
    handle = make_handle(original)
    config = HiveConfig.load(environ={"HIVE_MEMORY__EMBEDDER": "hashing"}, data_dir=str(tmp_path))
    with HiveStack.from_config(config) as stack:
        stack.artifacts.put(handle, original, {"source": "test"})
        assert stack.expand(handle) == original
    assert anyio.run(_expand_run, tmp_path, handle) == original
