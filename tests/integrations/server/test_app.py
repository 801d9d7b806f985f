from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.keys import AuditLog, KeyStore

from hive_middleware.config import HiveConfig
from hive_middleware.stack import HiveStack


def test_memory_routes_auth_and_tenants(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.sqlite")
    audit = AuditLog(tmp_path / "audit.jsonl")
    config = HiveConfig(data_dir=str(tmp_path / "data"))
    app = create_app(lambda: HiveStack.from_config(config), keys=keys, audit=audit)
    a, _ = keys.create("ta", scopes=["read", "write"])
    b, _ = keys.create("tb", scopes=["read"])
    with TestClient(app) as client:
        assert client.post("/v1/memories", json={"content": "x"}).status_code == 401
        bad = client.post("/v1/memories", json={"content": "x"}, headers={"Authorization": "Bearer hk_no_pe"})
        assert bad.status_code == 401 and bad.json()["error"] == "HiveAuthError"
        r = client.post(
            "/v1/memories",
            json={"content": "the sky is green", "key": "sky"},
            headers={"Authorization": f"Bearer {a}"},
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (
            client.post(
                "/v1/memories", json={"content": "y"}, headers={"Authorization": f"Bearer {b}"}
            ).status_code
            == 403
        )
        got = client.get("/v1/memories/sky", headers={"Authorization": f"Bearer {a}"})
        assert got.status_code == 200 and got.json()["content"] == "the sky is green"
        other = client.get("/v1/memories/sky", headers={"Authorization": f"Bearer {b}"})
        assert other.status_code in (404, 400, 403), other.text
        other_id = client.get(f"/v1/memories/{rid}", headers={"Authorization": f"Bearer {b}"})
        assert other_id.status_code != 200
    assert [e["ids"] for e in audit.entries()] == [[rid]]
