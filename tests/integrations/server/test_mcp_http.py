"""MCP over streamable HTTP at ``/mcp`` in a FastAPI app on a real uvicorn server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from hive_middleware.integrations.server.mcp import mount_mcp
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveError
from hive_middleware.stack import HiveStack
from hive_middleware.testing.servers import free_port


@dataclass(frozen=True)
class _Principal:
    tenant: str
    agent: str | None
    scopes: frozenset[str]


_KEYS = {
    "key-a": _Principal("alpha", "a1", frozenset({"read", "write"})),
    "key-b": _Principal("beta", "b1", frozenset({"read", "write"})),
}


def _authenticate(key: str) -> _Principal:
    try:
        return _KEYS[key]
    except KeyError:
        raise HiveError("unknown API key") from None


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    config = HiveConfig.load(environ={"HIVE_MEMORY__EMBEDDER": "hashing"}, data_dir=str(tmp_path))
    with HiveStack.from_config(config) as stack:
        app = FastAPI()
        mount_mcp(app, stack, _authenticate)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _call(url: str, key: str, tool: str, args: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(f"{url}/mcp", http_client=client) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        return await session.call_tool(tool, args)


def test_unauthenticated_is_401(base_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    assert httpx.post(f"{base_url}/mcp/", json=body).status_code == 401
    assert (
        httpx.post(f"{base_url}/mcp/", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    )


def test_tools_and_tenant_isolation(base_url: str) -> None:
    async def scenario() -> None:
        added = _data(
            await _call(base_url, "key-a", "memory_add", {"content": "alpha secret plan", "key": "plan"})
        )
        assert added["key"] == "plan"
        mine = _data(await _call(base_url, "key-a", "memory_recall", {"key": "plan"}))
        assert mine["record"]["content"] == "alpha secret plan"
        theirs = _data(await _call(base_url, "key-b", "memory_recall", {"key": "plan"}))
        assert theirs["record"] is None
        hits = _data(await _call(base_url, "key-b", "memory_search", {"query": "alpha secret plan"}))
        assert hits["results"] == []
        hits = _data(await _call(base_url, "key-a", "memory_search", {"query": "alpha secret plan"}))
        assert [h["key"] for h in hits["results"]][:1] == ["plan"]

    anyio.run(scenario)


def test_channels_graph_and_errors(base_url: str) -> None:
    async def scenario() -> None:
        cause = _data(
            await _call(base_url, "key-a", "memory_add", {"content": "disk is full", "key": "disk"})
        )
        effect = _data(
            await _call(
                base_url, "key-a", "memory_add", {"content": "deploy failed", "caused_by": [cause["id"]]}
            )
        )
        linked = _data(await _call(base_url, "key-a", "graph_traverse", {"key": effect["id"], "depth": 1}))
        assert cause["id"] in [r["id"] for r in linked["records"]]
        _data(await _call(base_url, "key-a", "channel_publish", {"channel": "ops", "record_id": cause["id"]}))
        feed = _data(await _call(base_url, "key-a", "channel_feed", {"channel": "ops"}))
        assert len(feed["events"]) == 1
        assert _data(await _call(base_url, "key-b", "channel_feed", {"channel": "ops"}))["events"] == []
        stolen = await _call(
            base_url, "key-b", "channel_publish", {"channel": "ops", "record_id": cause["id"]}
        )
        assert stolen.is_error
        assert "Traceback" not in str(getattr(stolen.content[0], "text", ""))

    anyio.run(scenario)


def test_scopes_and_audit(tmp_path: Path) -> None:
    from hive_middleware.integrations.server.keys import AuditLog, KeyStore

    keys = KeyStore(tmp_path / "keys.sqlite")
    audit = AuditLog(tmp_path / "audit.jsonl")
    writer, _ = keys.create("gamma", scopes=["read", "write"])
    reader, _ = keys.create("gamma", scopes=["read"])
    config = HiveConfig.load(environ={"HIVE_MEMORY__EMBEDDER": "hashing"}, data_dir=str(tmp_path / "d"))
    with HiveStack.from_config(config) as stack:
        app = FastAPI()
        mount_mcp(app, stack, keys.authenticate, audit=audit)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"

        async def scenario() -> None:
            added = _data(await _call(url, writer, "memory_add", {"content": "gamma fact", "key": "g"}))
            denied = await _call(url, reader, "memory_add", {"content": "nope", "key": "n"})
            assert denied.is_error and "scope" in denied.content[0].text
            assert _data(await _call(url, reader, "memory_recall", {"key": "g"}))["record"]["id"] == added["id"]
            refused = await _call(url, reader, "memory_forget", {"key": "g", "reason": "x"})
            assert refused.is_error
            _data(await _call(url, writer, "memory_forget", {"key": "g", "reason": "obsolete"}))
            assert _data(await _call(url, reader, "memory_recall", {"key": "g"}))["record"] is None

        try:
            anyio.run(scenario)
        finally:
            server.should_exit = True
            thread.join(10)
    ops = [(e["operation"], len(e["ids"])) for e in audit.entries()]
    assert ops == [("memory.add", 1), ("memory.forget", 1)]
    assert audit.entries()[1]["ids"] == ["g"]
    assert all(e["tenant"] == "gamma" for e in audit.entries())
