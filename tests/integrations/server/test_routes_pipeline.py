"""Compress, expand, route and readiness over HTTP, on a real stack in a temporary data dir."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.keys import AuditLog, KeyStore

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveStorageError
from hive_middleware.routing.policy import default_model_dir
from hive_middleware.stack import HiveStack

Headers = dict[str, str]


@dataclass
class Service:
    client: TestClient
    keys: KeyStore
    audit: AuditLog

    def headers(self, tenant: str, scopes: tuple[str, ...] = ("read", "write")) -> Headers:
        key, _ = self.keys.create(tenant, scopes=list(scopes))
        return {"Authorization": f"Bearer {key}"}


def _service(root: Path, **config: Any) -> tuple[Any, KeyStore, AuditLog]:
    keys = KeyStore(root / "keys.sqlite")
    audit = AuditLog(root / "audit.jsonl")
    settings = HiveConfig(data_dir=str(root / "data"), memory={"embedder": "hashing"}, **config)
    return create_app(lambda: HiveStack.from_config(settings), keys=keys, audit=audit), keys, audit


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    app, keys, audit = _service(tmp_path_factory.mktemp("pipeline_routes"))
    with TestClient(app) as client:
        yield Service(client, keys, audit)


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _conversation(output: str) -> list[dict[str, Any]]:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "bash", "arguments": json.dumps({"command": "grep -rn def src"})},
    }
    return [
        {"role": "system", "content": "You fix bugs."},
        {"role": "user", "content": "Find every function of the package."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": output},
        {"role": "assistant", "content": "Found them."},
        {"role": "user", "content": "Now fix the parser."},
    ]


# Non-ASCII text and a trailing space: the expansion must give these bytes back unchanged.
LONG_OUTPUT = "\n".join(
    f"src/pkg/mod{i}.py:{i}: def función_{i}(x):  return x * {i}  # naïve ✓ " for i in range(400)
)


def test_compress_shrinks_a_long_tool_message_and_its_handle_expands_byte_for_byte(
    service: Service, tenant: str
) -> None:
    h = service.headers(tenant)
    response = service.client.post("/v1/compress", json={"messages": _conversation(LONG_OUTPUT)}, headers=h)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["messages"]) == 6
    tool = body["messages"][3]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "c1"
    assert len(tool["content"]) < len(LONG_OUTPUT) / 4
    assert body["stats"]["tokens_after"] < body["stats"]["tokens_before"] / 4
    assert body["messages"][5]["content"] == "Now fix the parser."
    (handle,) = body["handles"]
    assert body["handles"][handle] == 3
    assert body["labels"][3]["handle"] == handle and body["labels"][3]["label"] in {"DISTILL", "DROP"}

    expanded = service.client.get(f"/v1/handles/{handle}", headers=h)
    assert expanded.status_code == 200, expanded.text
    assert expanded.json() == {"handle": handle, "content": LONG_OUTPUT}

    entries = [e for e in service.audit.entries() if e["tenant"] == tenant]
    assert [(e["operation"], e["ids"]) for e in entries] == [("compress", [handle])]


def test_a_handle_expands_only_for_the_tenant_that_compressed(service: Service, tenant: str) -> None:
    owner = service.headers(tenant)
    body = service.client.post(
        "/v1/compress", json={"messages": _conversation(LONG_OUTPUT + " A")}, headers=owner
    ).json()
    (handle,) = body["handles"]
    other = service.headers(f"{tenant}x")
    refused = service.client.get(f"/v1/handles/{handle}", headers=other)
    assert refused.status_code == 404 and refused.json()["error"] == "HiveNotFoundError"
    assert LONG_OUTPUT not in refused.text
    unknown = service.client.get("/v1/handles/h-000000000000", headers=owner)
    assert unknown.status_code == 404 and unknown.json()["error"] == "HiveNotFoundError"
    malformed = service.client.get("/v1/handles/not-a-handle", headers=owner)
    assert malformed.status_code == 422 and malformed.json()["error"] == "HiveValidationError"
    # The owner still reads it.
    assert service.client.get(f"/v1/handles/{handle}", headers=owner).json()["content"] == LONG_OUTPUT + " A"


def test_compress_keeps_a_short_list_and_stores_nothing(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    body = service.client.post("/v1/compress", json={"messages": messages}, headers=h).json()
    assert body["messages"] == messages and body["handles"] == {}
    assert [e for e in service.audit.entries() if e["tenant"] == tenant] == []


@pytest.mark.parametrize(
    "payload",
    [
        {"messages": []},
        {"messages": [{"role": "tool", "tool_call_id": "nobody", "content": "orphan"}]},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}], "budget": 0},
        {},
    ],
)
def test_bad_compress_input_is_a_422_with_the_error_body(
    service: Service, tenant: str, payload: dict[str, Any]
) -> None:
    response = service.client.post("/v1/compress", json=payload, headers=service.headers(tenant))
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == "HiveValidationError"


def test_compress_needs_write_and_expand_needs_a_key(service: Service, tenant: str) -> None:
    reader = service.headers(tenant, scopes=("read",))
    messages = [{"role": "user", "content": "hi"}]
    refused = service.client.post("/v1/compress", json={"messages": messages}, headers=reader)
    assert refused.status_code == 403 and refused.json()["error"] == "HiveTenantError"
    assert service.client.get("/v1/handles/h-000000000000").status_code == 401


def test_route_escalates_without_a_router_model(service: Service, tenant: str) -> None:
    h = service.headers(tenant, scopes=("read",))
    state = {"goal": "Fix the failing parser test", "history": [{"action": "ls", "observation": "src tests"}]}
    response = service.client.post("/v1/route", json=state, headers=h)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["escalated"] is True and decision["action"] is None
    assert "router" in decision["reason"]
    for bad in ({"goal": ""}, {"goal": "x", "step_index": -1}, {"goal": "x", "history": [{"action": "ls"}]}):
        refused = service.client.post("/v1/route", json=bad, headers=h)
        assert refused.status_code == 422 and refused.json()["error"] == "HiveValidationError", refused.text


def test_route_asks_the_packaged_router_model_per_tenant_agent(tmp_path: Path) -> None:
    app, keys, _ = _service(tmp_path, routing={"model_dir": str(default_model_dir())})
    key, _ = keys.create("acme", scopes=["read"])
    state = {
        "goal": "Fix the bug in parse()",
        "history": [
            {"action": "create reproduce.py", "observation": "[File: /repo/reproduce.py (1 lines total)]"}
        ],
        "env": {"working_dir": "/repo"},
        "agent": "coder",
    }
    with TestClient(app) as client:
        response = client.post("/v1/route", json=state, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    decision = response.json()
    assert 0.0 < decision["confidence"] <= 1.0
    assert decision["escalated"] is (decision["action"] is None)
    assert decision["decision_id"].startswith("acme/coder")


def test_readyz_answers_200_when_the_store_answers(service: Service) -> None:
    response = service.client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and isinstance(body["index_pending"], int)


def test_readyz_answers_503_when_the_stack_cannot_open(tmp_path: Path) -> None:
    def broken() -> HiveStack:
        raise HiveStorageError("the data directory is on a disk that went away")

    app = create_app(
        broken, keys=KeyStore(tmp_path / "keys.sqlite"), audit=AuditLog(tmp_path / "audit.jsonl")
    )
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "error": "HiveStorageError",
        "message": "the data directory is on a disk that went away",
    }


def test_openapi_documents_the_pipeline_models(service: Service) -> None:
    spec = service.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["CompressIn"]["properties"]["messages"]["description"]
    assert schemas["RouteOut"]["properties"]["escalated"]["description"]
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    assert {"/v1/compress", "/v1/handles/{handle}", "/v1/route"} <= set(spec["paths"])
