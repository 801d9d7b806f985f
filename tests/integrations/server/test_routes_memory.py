"""The memory and graph routes over a real stack (SQLite in a temporary data dir)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.keys import AuditLog, KeyStore

from hive_middleware.config import HiveConfig
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

    def add(self, headers: Headers, **body: Any) -> dict[str, Any]:
        response = self.client.post("/v1/memories", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root: Path = tmp_path_factory.mktemp("memory_routes")
    keys = KeyStore(root / "keys.sqlite")
    audit = AuditLog(root / "audit.jsonl")
    config = HiveConfig(data_dir=str(root / "data"), memory={"embedder": "hashing"})
    app = create_app(lambda: HiveStack.from_config(config), keys=keys, audit=audit)
    with TestClient(app) as client:
        yield Service(client, keys, audit)


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert set(body) == {"error", "message", "fields"}, body
    assert body["error"] == error, body
    assert body["message"]
    return body


def test_add_and_get_carry_key_metadata_tags_valid_from_and_cause(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    cause = service.add(h, content="the deploy failed at 09:00")
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    added = service.add(
        h,
        content="the database ran out of disk",
        key="incident",
        metadata={"severity": 2},
        tags=["ops"],
        kind="semantic",
        cause=[cause["id"]],
        valid_from=when.isoformat(),
    )
    assert added["namespace"] == [tenant]
    assert added["kind"] == "semantic" and added["tags"] == ["ops"]
    assert added["metadata"] == {"severity": 2}
    assert added["valid_from"] == int(when.timestamp() * 1000)
    assert abs(added["recorded_at"] - time.time() * 1000) < 60_000
    assert added["invalidated_at"] is None

    got = service.client.get("/v1/memories/incident", headers=h).json()
    assert got == added
    by_id = service.client.get(f"/v1/memories/{cause['id']}", headers=h)
    assert by_id.status_code == 200 and by_id.json()["content"] == "the deploy failed at 09:00"

    steps = service.client.get("/v1/memories/incident/why", headers=h).json()["steps"]
    assert [(s["depth"], s["edge"]["kind"], s["memory"]["id"]) for s in steps] == [
        (1, "caused_by", cause["id"])
    ]
    assert steps[0]["edge"]["src"] == added["id"]


def test_agent_and_thread_namespaces_keep_keys_apart(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    service.add(h, content="tenant wide", key="k")
    scoped = service.add(h, content="only in the thread", key="k", agent="a1", thread="t1")
    assert scoped["namespace"] == [tenant, "a1", "t1"]
    assert service.client.get("/v1/memories/k", headers=h).json()["content"] == "tenant wide"
    got = service.client.get("/v1/memories/k", params={"agent": "a1", "thread": "t1"}, headers=h)
    assert got.json()["content"] == "only in the thread"
    other = service.client.get("/v1/memories/k", params={"agent": "a2"}, headers=h)
    assert_error(other, 404, "HiveNotFoundError")


def test_as_of_returns_the_older_version_after_a_supersede(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    first = service.add(h, content="the sky is blue", key="sky")
    time.sleep(0.005)  # the next version lands in a later millisecond
    response = service.client.post(
        "/v1/memories/sky/supersede",
        json={"content": "the sky is green", "reason": "looked again"},
        headers=h,
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["id"] != first["id"] and second["recorded_at"] > first["recorded_at"]

    now = service.client.get("/v1/memories/sky", headers=h).json()
    assert now["content"] == "the sky is green"
    then = service.client.get("/v1/memories/sky", params={"as_of": first["recorded_at"]}, headers=h).json()
    assert then["id"] == first["id"] and then["content"] == "the sky is blue"
    iso = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=first["recorded_at"])).isoformat()
    assert (
        service.client.get("/v1/memories/sky", params={"as_of": iso}, headers=h).json()["id"] == first["id"]
    )
    later = service.client.get("/v1/memories/sky", params={"as_of": second["recorded_at"]}, headers=h).json()
    assert later["id"] == second["id"]
    before = service.client.get("/v1/memories/sky", params={"as_of": first["recorded_at"] - 1000}, headers=h)
    assert_error(before, 404, "HiveNotFoundError")

    versions = service.client.get("/v1/memories/sky/history", headers=h).json()["versions"]
    assert [v["content"] for v in versions] == ["the sky is blue", "the sky is green"]
    assert versions[0]["superseded_by"] == second["id"]
    assert versions[0]["invalidated_at"] == second["recorded_at"]
    assert versions[1]["reason"] == "looked again" and versions[1]["invalidated_at"] is None
    steps = service.client.get("/v1/memories/sky/why", headers=h).json()["steps"]
    assert [(s["edge"]["kind"], s["memory"]["id"]) for s in steps] == [("supersedes", first["id"])]


def test_supersede_of_a_key_without_a_current_version_is_404(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    response = service.client.post("/v1/memories/ghost/supersede", json={"content": "x"}, headers=h)
    assert_error(response, 404, "HiveNotFoundError")


def test_forget_hides_the_key_while_history_keeps_it(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    added = service.add(h, content="the office wifi password is hunter2", key="wifi")
    response = service.client.delete("/v1/memories/wifi", params={"reason": "rotated"}, headers=h)
    assert response.status_code == 200, response.text
    assert response.json() == {"forgotten": "wifi", "id": added["id"]}

    assert_error(service.client.get("/v1/memories/wifi", headers=h), 404, "HiveNotFoundError")
    hits = service.client.post("/v1/memories/search", json={"query": "wifi password"}, headers=h).json()
    assert hits["results"] == []
    versions = service.client.get("/v1/memories/wifi/history", headers=h).json()["versions"]
    assert [v["id"] for v in versions] == [added["id"]]
    assert versions[0]["expired_reason"] == "rotated" and versions[0]["invalidated_at"] is not None
    then = service.client.get("/v1/memories/wifi", params={"as_of": added["recorded_at"]}, headers=h)
    assert then.status_code == 200 and then.json()["id"] == added["id"]
    again = service.client.delete("/v1/memories/wifi", params={"reason": "rotated"}, headers=h)
    assert_error(again, 404, "HiveNotFoundError")
    assert_error(service.client.delete("/v1/memories/wifi", headers=h), 422, "HiveValidationError")


def test_search_honours_k_tags_kinds_namespace_and_as_of(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    early = service.add(h, content="release notes for the parser", tags=["docs"])
    time.sleep(0.005)
    service.add(h, content="parser crash on empty input", tags=["bug"], kind="semantic")
    service.add(h, content="parser benchmark numbers", agent="bench")

    def search(**body: Any) -> list[dict[str, Any]]:
        response = service.client.post("/v1/memories/search", json={"query": "parser", **body}, headers=h)
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        assert all(isinstance(r["score"], float) for r in results)
        return results

    assert len(search()) == 3
    assert len(search(k=1)) == 1
    assert [r["memory"]["content"] for r in search(tags=["bug"])] == ["parser crash on empty input"]
    assert [r["memory"]["kind"] for r in search(kinds=["semantic"])] == ["semantic"]
    assert [r["memory"]["namespace"] for r in search(agent="bench")] == [[tenant, "bench"]]
    assert [r["memory"]["id"] for r in search(as_of=early["recorded_at"])] == [early["id"]]


def test_graph_traverses_links_by_kind_and_depth(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    root = service.add(h, content="power cut in the server room", key="root")
    middle = service.add(h, content="the build farm went down", key="middle", cause=[root["id"]])
    leaf = service.add(h, content="the nightly release slipped", key="leaf", cause=[middle["id"]])

    def graph(ref: str, **params: Any) -> list[str]:
        response = service.client.get(f"/v1/graph/{ref}", params=params, headers=h)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["records"]]

    assert graph("leaf") == [middle["id"]]
    assert graph("leaf", depth=2, kind="caused_by") == [middle["id"], root["id"]]
    assert graph(leaf["id"], depth=2) == [middle["id"], root["id"]]
    assert graph("middle", kind="supersedes") == []
    assert sorted(graph("middle")) == sorted([root["id"], leaf["id"]])
    assert_error(service.client.get("/v1/graph/nothing", headers=h), 404, "HiveNotFoundError")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", "/v1/memories", {"json": {"content": ""}}),
        ("post", "/v1/memories", {"json": {"content": "   "}}),
        ("post", "/v1/memories", {"json": {"key": "no content"}}),
        ("post", "/v1/memories", {"json": {"content": "x", "valid_from": "2024-05-01T12:00:00"}}),
        ("post", "/v1/memories", {"json": {"content": "x", "kind": "dream"}}),
        ("post", "/v1/memories/search", {"json": {"query": "x", "k": 0}}),
        ("post", "/v1/memories/search", {"json": {"query": "x", "k": 1001}}),
        ("post", "/v1/memories/search", {"json": {"query": ""}}),
        ("post", "/v1/memories/search", {"json": {"query": "x", "as_of": "last tuesday"}}),
        ("get", "/v1/memories/k", {"params": {"as_of": "2024-13-45T00:00:00Z"}}),
        ("get", "/v1/memories/k", {"params": {"as_of": "99999999999999999999"}}),
        ("get", "/v1/graph/k", {"params": {"kind": "loves"}}),
        ("get", "/v1/graph/k", {"params": {"depth": 0}}),
        ("get", "/v1/memories/k/why", {"params": {"depth": 99}}),
        ("post", "/v1/memories/k/supersede", {"json": {"content": ""}}),
    ],
)
def test_bad_input_is_a_422_with_the_error_body(
    service: Service, tenant: str, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    h = service.headers(tenant)
    response = getattr(service.client, method)(path, headers=h, **kwargs)
    body = assert_error(response, 422, "HiveValidationError")
    assert body["fields"].get("field"), body


def test_another_tenants_keys_and_ids_are_never_visible(service: Service, tenant: str) -> None:
    owner = service.headers(tenant)
    cause = service.add(owner, content="secret cause of tenant A")
    secret = service.add(owner, content="the secret plan of tenant A", key="plan", cause=[cause["id"]])
    intruder = service.headers(f"{tenant}x")
    client = service.client
    for path in (
        "/v1/memories/plan",
        f"/v1/memories/{secret['id']}",
        "/v1/memories/plan/history",
        "/v1/memories/plan/why",
        f"/v1/memories/{secret['id']}/why",
        "/v1/graph/plan",
        f"/v1/graph/{secret['id']}",
    ):
        assert_error(client.get(path, headers=intruder), 404, "HiveNotFoundError")
    as_of = client.get("/v1/memories/plan", params={"as_of": secret["recorded_at"]}, headers=intruder)
    assert_error(as_of, 404, "HiveNotFoundError")
    found = client.post("/v1/memories/search", json={"query": "secret plan"}, headers=intruder).json()
    assert found == {"results": []}
    assert_error(
        client.post("/v1/memories/plan/supersede", json={"content": "hijacked"}, headers=intruder),
        404,
        "HiveNotFoundError",
    )
    assert_error(
        client.delete("/v1/memories/plan", params={"reason": "x"}, headers=intruder), 404, "HiveNotFoundError"
    )
    linked = client.post("/v1/memories", json={"content": "mine", "cause": [secret["id"]]}, headers=intruder)
    assert_error(linked, 404, "HiveNotFoundError")
    # Nothing changed for the owner.
    assert client.get("/v1/memories/plan", headers=owner).json()["id"] == secret["id"]


def test_writes_are_audited_and_need_the_write_scope(service: Service, tenant: str) -> None:
    h = service.headers(tenant)
    reader = service.headers(tenant, scopes=("read",))
    added = service.add(h, content="v1", key="audited")
    superseded = service.client.post(
        "/v1/memories/audited/supersede", json={"content": "v2"}, headers=h
    ).json()
    service.client.delete("/v1/memories/audited", params={"reason": "done"}, headers=h)
    assert_error(
        service.client.post("/v1/memories", json={"content": "x"}, headers=reader), 403, "HiveTenantError"
    )
    assert_error(
        service.client.post("/v1/memories/audited/supersede", json={"content": "x"}, headers=reader),
        403,
        "HiveTenantError",
    )
    assert_error(
        service.client.delete("/v1/memories/audited", params={"reason": "x"}, headers=reader),
        403,
        "HiveTenantError",
    )
    assert_error(service.client.get("/v1/memories/audited/history"), 401, "HiveAuthError")

    mine = [(e["operation"], e["ids"]) for e in service.audit.entries() if e["tenant"] == tenant]
    assert mine == [
        ("memory.add", [added["id"]]),
        ("memory.supersede", [superseded["id"]]),
        ("memory.forget", [superseded["id"]]),
    ]


def test_openapi_documents_the_memory_models(service: Service) -> None:
    spec = service.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["MemoryIn"]["properties"]["content"]["description"]
    assert schemas["SearchIn"]["properties"]["k"]["maximum"] == 1000
    assert schemas["VersionOut"]["properties"]["superseded_by"]["description"]
    for path in ("/v1/memories/{key}/history", "/v1/memories/{key}/why", "/v1/graph/{key}"):
        assert "get" in spec["paths"][path]
    forget = spec["paths"]["/v1/memories/{key}"]["delete"]
    assert forget["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_an_unreadable_body_is_a_400_with_the_error_body(service: Service, tenant: str) -> None:
    h = {**service.headers(tenant), "Content-Type": "application/json"}
    response = service.client.post("/v1/memories", content=b"\xc6\xb3v\xff\xfeg6", headers=h)
    assert_error(response, 400, "HiveUsageError")
    truncated = service.client.post("/v1/memories", content=b'{"content": "x"', headers=h)
    assert_error(truncated, 422, "HiveValidationError")
