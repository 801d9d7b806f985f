"""Channel and agent REST routes over a real stack: shapes, order, tenants, scopes, audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.keys import AuditLog, KeyStore

from hive_middleware.config import HiveConfig
from hive_middleware.stack import HiveStack

pytestmark = pytest.mark.timeout(120)


@dataclass
class Service:
    client: TestClient
    ctx: ServerContext
    audit: AuditLog
    a: dict[str, str]
    b: dict[str, str]
    a_read: dict[str, str]

    def remember(self, tenant: str, content: str) -> str:
        return self.ctx.stack().memory.remember(content, namespace=(tenant,)).id


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    keys = KeyStore(tmp_path / "keys.sqlite")
    audit = AuditLog(tmp_path / "audit.jsonl")
    config = HiveConfig(data_dir=str(tmp_path / "data"), memory={"embedder": "hashing"})
    app = create_app(lambda: HiveStack.from_config(config), keys=keys, audit=audit)
    a, _ = keys.create("ta", scopes=["read", "write"])
    b, _ = keys.create("tb", scopes=["read", "write"])
    a_read, _ = keys.create("ta", scopes=["read"])
    with TestClient(app) as client:
        yield Service(client, app.state.hive, audit, _bearer(a), _bearer(b), _bearer(a_read))


def test_create_list_publish_and_feed_in_order(service: Service) -> None:
    c = service.client
    made = c.post("/v1/channels", json={"name": "news", "description": "findings"}, headers=service.a)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "news" and made.json()["description"] == "findings"
    assert isinstance(made.json()["created_at"], int)
    # Creating again without a description keeps the old one.
    again = c.post("/v1/channels", json={"name": "news"}, headers=service.a)
    assert again.json()["description"] == "findings"
    c.post("/v1/channels", json={"name": "alerts"}, headers=service.a)
    listed = c.get("/v1/channels", headers=service.a_read).json()["channels"]
    assert [ch["name"] for ch in listed] == ["alerts", "news"]

    ids = [service.remember("ta", f"finding number {i}") for i in range(7)]
    cursors = []
    for rid in ids:
        r = c.post("/v1/channels/news/publish", json={"record_id": rid, "agent": "scout"}, headers=service.a)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["event"]["record_id"] == rid and body["event"]["agent"] == "scout"
        assert body["event"]["record"]["id"] == rid and body["event"]["record"]["namespace"] == ["ta"]
        cursors.append(body["cursor"])

    page = c.get("/v1/channels/news/feed", headers=service.a_read).json()
    assert [e["cursor"] for e in page["events"]] == cursors
    assert [e["event"]["content"] for e in page["events"]] == [f"finding number {i}" for i in range(7)]
    assert [e["event"]["record"]["content"] for e in page["events"]] == [
        f"finding number {i}" for i in range(7)
    ]
    assert page["next"] == cursors[-1]

    # Paging with after/limit walks the same order without gaps or repeats.
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 3} | ({"after": after} if after else {})
        got = c.get("/v1/channels/news/feed", params=params, headers=service.a).json()
        if not got["events"]:
            break
        seen += [e["cursor"] for e in got["events"]]
        after = got["next"]
    assert seen == cursors

    ops = [(e["operation"], e["ids"]) for e in service.audit.entries()]
    assert ("channel.create", ["news"]) in ops
    assert [i for op, i in ops if op == "channel.publish"] == [[rid] for rid in ids]


def test_publishing_a_record_twice_stores_one_event(service: Service) -> None:
    rid = service.remember("ta", "the build is green")
    first = service.client.post(
        "/v1/channels/news/publish", json={"record_id": rid}, headers=service.a
    ).json()
    second = service.client.post(
        "/v1/channels/news/publish", json={"record_id": rid}, headers=service.a
    ).json()
    assert first["cursor"] == second["cursor"]
    assert len(service.client.get("/v1/channels/news/feed", headers=service.a).json()["events"]) == 1


def test_other_tenants_channels_events_and_records_are_invisible(service: Service) -> None:
    c = service.client
    rid_a = service.remember("ta", "secret of tenant a")
    assert (
        c.post("/v1/channels/news/publish", json={"record_id": rid_a}, headers=service.a).status_code == 201
    )

    assert c.get("/v1/channels", headers=service.b).json()["channels"] == []
    hidden = c.get("/v1/channels/news/feed", headers=service.b)
    assert hidden.status_code == 404 and hidden.json()["error"] == "HiveNotFoundError"

    # Publishing tenant a's record id from tenant b is "not found", and stores nothing anywhere.
    stolen = c.post("/v1/channels/news/publish", json={"record_id": rid_a}, headers=service.b)
    assert stolen.status_code == 404, stolen.text
    assert stolen.json()["fields"]["record_id"] == rid_a
    assert c.get("/v1/channels", headers=service.b).json()["channels"] == []

    # Tenant b's own channel of the same name is separate.
    rid_b = service.remember("tb", "news of tenant b")
    assert (
        c.post("/v1/channels/news/publish", json={"record_id": rid_b}, headers=service.b).status_code == 201
    )
    feed_a = c.get("/v1/channels/news/feed", headers=service.a).json()["events"]
    feed_b = c.get("/v1/channels/news/feed", headers=service.b).json()["events"]
    assert [e["event"]["record_id"] for e in feed_a] == [rid_a]
    assert [e["event"]["record_id"] for e in feed_b] == [rid_b]


def test_bad_input_and_missing_scopes_get_hive_errors(service: Service) -> None:
    c = service.client
    rid = service.remember("ta", "a fact")
    assert c.get("/v1/channels").status_code == 401
    denied = c.post("/v1/channels/news/publish", json={"record_id": rid}, headers=service.a_read)
    assert denied.status_code == 403 and denied.json()["error"] == "HiveTenantError"
    assert c.post("/v1/channels", json={"name": "x"}, headers=service.a_read).status_code == 403
    missing = c.post("/v1/channels/news/publish", json={"record_id": "no-such-id"}, headers=service.a)
    assert missing.status_code == 404
    c.post("/v1/channels/news/publish", json={"record_id": rid}, headers=service.a)
    for params in ({"limit": 0}, {"limit": 10_001}, {"after": "not-a-cursor"}):
        bad = c.get("/v1/channels/news/feed", params=params, headers=service.a)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"] == "HiveValidationError" and bad.json()["message"]
    blank = c.post("/v1/channels", json={"name": "  "}, headers=service.a)
    assert blank.status_code == 422 and blank.json()["fields"]["field"] == "channel"
    assert c.get("/v1/channels/unknown/feed", headers=service.a).status_code == 404


def test_agents_register_heartbeat_and_list(service: Service) -> None:
    c = service.client
    reg = c.post(
        "/v1/agents", json={"agent": "scout", "status": "starting", "meta": {"host": "h1"}}, headers=service.a
    )
    assert reg.status_code == 201 and reg.json() == {"agent": "scout", "status": "starting"}
    c.post("/v1/agents", json={"agent": "fixer"}, headers=service.a)
    beat = c.post("/v1/agents/scout/heartbeat", json={"status": "searching"}, headers=service.a)
    assert beat.status_code == 200 and beat.json()["status"] == "searching"

    agents = c.get("/v1/agents", headers=service.a_read).json()["agents"]
    assert [a["agent"] for a in agents] == ["scout", "fixer"]  # most recently seen first
    scout = agents[0]
    assert scout["status"] == "searching" and scout["meta"] == {"host": "h1"} and scout["alive"] is True
    assert scout["last_seen"] >= scout["first_seen"] > 0
    assert agents[1]["status"] == "idle"

    # A heartbeat without a body says "active".
    assert c.post("/v1/agents/fixer/heartbeat", headers=service.a).json()["status"] == "active"
    assert c.get("/v1/agents", headers=service.a).json()["agents"][0]["agent"] == "fixer"

    assert c.get("/v1/agents", headers=service.b).json()["agents"] == []
    assert c.post("/v1/agents/scout/heartbeat", headers=service.a_read).status_code == 403
    too_long = c.post("/v1/agents/scout/heartbeat", json={"status": "x" * 201}, headers=service.a)
    assert too_long.status_code == 422 and too_long.json()["fields"]["field"] == "status"
    ops = [e["operation"] for e in service.audit.entries()]
    assert ops.count("agent.register") == 2 and "agent.heartbeat" not in ops
