"""The channel WebSocket over a real stack: order, resume by cursor, auth close codes, tenants, cleanup."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.keys import AuditLog, KeyStore
from starlette.websockets import WebSocketDisconnect

from hive_middleware.config import HiveConfig
from hive_middleware.stack import HiveStack

pytestmark = pytest.mark.timeout(120)


@dataclass
class Service:
    client: TestClient
    ctx: ServerContext
    keys: KeyStore
    a: str
    b: str

    def publish(self, tenant: str, channel: str, content: str) -> str:
        """Store a memory of ``tenant`` and publish it; returns the event's cursor."""
        stack = self.ctx.stack()
        record = stack.memory.remember(content, namespace=(tenant,))
        cursor = stack.channels.for_tenant(tenant).publish(channel, record).cursor
        assert cursor is not None
        return cursor


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    keys = KeyStore(tmp_path / "keys.sqlite")
    audit = AuditLog(tmp_path / "audit.jsonl")
    config = HiveConfig(data_dir=str(tmp_path / "data"), memory={"embedder": "hashing"})
    app = create_app(lambda: HiveStack.from_config(config), keys=keys, audit=audit)
    a, _ = keys.create("ta", scopes=["read", "write"])
    b, _ = keys.create("tb", scopes=["read", "write"])
    with TestClient(app) as client:
        yield Service(client, app.state.hive, keys, a, b)


def _contents(messages: list[dict[str, Any]]) -> list[str]:
    return [m["event"]["content"] for m in messages]


def _subscription_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("hive-subscription"))


def _settle_threads(expected: int, within_s: float = 5.0) -> int:
    """The number of subscription threads once it reaches ``expected`` (or when ``within_s`` passes)."""
    deadline = time.monotonic() + within_s
    while _subscription_threads() != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return _subscription_threads()


def _refusal(client: TestClient, url: str, headers: dict[str, str] | None = None) -> WebSocketDisconnect:
    """How the server closed a socket it refused."""
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(url, headers=headers or {}) as ws,
    ):
        ws.receive_json()
    return closed.value


def test_backlog_then_live_events_arrive_in_order_with_their_records(service: Service) -> None:
    cursors = [service.publish("ta", "news", f"event {i}") for i in range(150)]
    with service.client.websocket_connect(f"/v1/channels/news/ws?key={service.a}") as ws:
        backlog = [ws.receive_json() for _ in range(150)]
        assert [m["cursor"] for m in backlog] == cursors
        assert _contents(backlog) == [f"event {i}" for i in range(150)]
        first = backlog[0]["event"]
        assert first["record"]["content"] == "event 0" and first["record"]["namespace"] == ["ta"]
        assert first["record_id"] == first["record"]["id"] and isinstance(first["published_at"], int)
        # The record has the memory routes' shape (times in epoch milliseconds).
        assert isinstance(first["record"]["recorded_at"], int) and "valid_from" in first["record"]
        # Live: each event published while connected is pushed, in order.
        for i in range(150, 200):
            cursor = service.publish("ta", "news", f"event {i}")
            message = ws.receive_json()
            assert (message["cursor"], message["event"]["content"]) == (cursor, f"event {i}")
        ws.close()


def test_publish_over_http_reaches_a_header_authenticated_socket(service: Service) -> None:
    service.client.post(
        "/v1/channels", json={"name": "ops"}, headers={"Authorization": f"Bearer {service.a}"}
    )
    rid = service.ctx.stack().memory.remember("disk is full on h2", namespace=("ta",)).id
    with service.client.websocket_connect(
        "/v1/channels/ops/ws", headers={"Authorization": f"Bearer {service.a}"}
    ) as ws:
        r = service.client.post(
            "/v1/channels/ops/publish",
            json={"record_id": rid},
            headers={"Authorization": f"Bearer {service.a}"},
        )
        assert r.status_code == 201
        message = ws.receive_json()
        assert message["cursor"] == r.json()["cursor"] and message["event"]["record"]["id"] == rid
        ws.close()


def test_reconnect_with_the_last_cursor_misses_nothing_and_repeats_nothing(service: Service) -> None:
    for i in range(10):
        service.publish("ta", "news", f"event {i}")
    with service.client.websocket_connect(f"/v1/channels/news/ws?key={service.a}") as ws:
        got = [ws.receive_json() for _ in range(4)]
        ws.close()
    last = got[-1]["cursor"]
    # Published while the client is away.
    for i in range(10, 15):
        service.publish("ta", "news", f"event {i}")
    with service.client.websocket_connect(f"/v1/channels/news/ws?key={service.a}&after={last}") as ws:
        resumed = [ws.receive_json() for _ in range(11)]
        sentinel = service.publish("ta", "news", "sentinel")
        after_all = ws.receive_json()
        ws.close()
    assert _contents(got + resumed) == [f"event {i}" for i in range(15)]
    # The next message after the expected ones is the new event: nothing was sent twice.
    assert (after_all["cursor"], after_all["event"]["content"]) == (sentinel, "sentinel")


@pytest.mark.parametrize(
    ("query", "code", "words"),
    [
        ("", 4401, "missing"),
        ("?key=hk_bogus_secret", 4401, "unknown"),
        ("?key=not-a-key", 4401, "malformed"),
    ],
)
def test_bad_or_missing_key_closes_4401(service: Service, query: str, code: int, words: str) -> None:
    service.publish("ta", "news", "x")
    refused = _refusal(service.client, f"/v1/channels/news/ws{query}")
    assert refused.code == code and words in refused.reason


def test_revoked_key_and_missing_scope_are_refused(service: Service) -> None:
    service.publish("ta", "news", "x")
    revoked, info = service.keys.create("ta", scopes=["read"])
    service.keys.revoke(info.key_id)
    refused = _refusal(service.client, f"/v1/channels/news/ws?key={revoked}")
    assert refused.code == 4401 and "revoked" in refused.reason
    write_only, _ = service.keys.create("ta", scopes=["write"])
    refused = _refusal(service.client, "/v1/channels/news/ws", {"Authorization": f"Bearer {write_only}"})
    assert refused.code == 4403 and "read" in refused.reason


def test_other_tenants_channel_is_invisible(service: Service) -> None:
    service.publish("ta", "news", "secret of tenant a")
    refused = _refusal(service.client, f"/v1/channels/news/ws?key={service.b}")
    assert refused.code == 4404 and "news" in refused.reason
    # Once tenant b has its own "news", its socket sees only its own events.
    own = service.publish("tb", "news", "news of tenant b")
    with service.client.websocket_connect(f"/v1/channels/news/ws?key={service.b}") as ws:
        message = ws.receive_json()
        assert (message["cursor"], message["event"]["content"]) == (own, "news of tenant b")
        service.publish("ta", "news", "second secret of tenant a")
        later = service.publish("tb", "news", "more news of tenant b")
        assert ws.receive_json()["cursor"] == later
        ws.close()


def test_malformed_cursor_closes_4422(service: Service) -> None:
    service.publish("ta", "news", "x")
    refused = _refusal(service.client, f"/v1/channels/news/ws?key={service.a}&after=zzz")
    assert refused.code == 4422 and "cursor" in refused.reason


def test_disconnects_leave_no_subscription_thread(service: Service) -> None:
    service.publish("ta", "news", "x")
    before = _subscription_threads()
    for _ in range(3):
        with service.client.websocket_connect(f"/v1/channels/news/ws?key={service.a}") as ws:
            ws.receive_json()
            assert _settle_threads(before + 1) == before + 1  # one reader thread, blocked waiting for news
            ws.close()
        assert _settle_threads(before) == before
    # Leaving without a close frame (the connection is just dropped) cleans up too.
    with service.client.websocket_connect(f"/v1/channels/news/ws?key={service.a}") as ws:
        ws.receive_json()
    assert _settle_threads(before) == before
