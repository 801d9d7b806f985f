"""/metrics of the Hive HTTP service (request counts, latency, the stack's figures) and request spans."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hive_middleware.integrations.server import observability
from hive_middleware.integrations.server.app import create_app
from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.keys import AuditLog, KeyStore
from hive_middleware.integrations.server.observability import UNMATCHED_ROUTE, route_template
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Mount

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveDependencyError
from hive_middleware.hivemind import HiveMind
from hive_middleware.hivemind.fallback import PendingQueue, Reconciler
from hive_middleware.hivemind.sqlite import SQLiteAgentRegistry, SQLiteChannelLog, SQLiteLearningLog
from hive_middleware.memory.store import MemoryStore
from hive_middleware.pipeline import Identity
from hive_middleware.stack import HiveStack
from hive_middleware.testing.memory import HashingEmbedder, InMemoryGraphStore, InMemoryVectorIndex
from hive_middleware.types import Action, AgentState, RouteDecision

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _config(tmp_path: Path, **overrides: Any) -> HiveConfig:
    return HiveConfig.load(environ={}, data_dir=str(tmp_path / "data"),
                           memory={"embedder": "hashing", "vector_index": "memory"}, **overrides)


def _app(tmp_path: Path, factory: Callable[[], HiveStack] | None = None, **overrides: Any) -> tuple[FastAPI, KeyStore]:
    keys = KeyStore(tmp_path / "keys.sqlite")
    config = _config(tmp_path, **overrides)
    app = create_app(factory or (lambda: HiveStack(config)), keys=keys, audit=AuditLog(tmp_path / "audit.jsonl"))
    return app, keys


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _scrape(client: TestClient, admin: str) -> Samples:
    got = client.get("/metrics", headers=_bearer(admin))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/plain; version=")
    out: Samples = {}
    for family in text_string_to_metric_families(got.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_need_a_key_with_the_admin_scope(tmp_path: Path) -> None:
    app, keys = _app(tmp_path)
    reader, _ = keys.create("acme", scopes=["read", "write"])
    admin, _ = keys.create("ops", scopes=["admin"])
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        refused = client.get("/metrics", headers=_bearer(reader))
        assert refused.status_code == 403 and refused.json()["error"] == "HiveTenantError"
        assert _value(_scrape(client, admin), "hive_stack_open") == 0  # scraping opened nothing


def test_requests_are_counted_and_timed_by_route_template_and_status(tmp_path: Path) -> None:
    app, keys = _app(tmp_path)
    writer, _ = keys.create("acme", scopes=["read", "write"])
    admin, _ = keys.create("ops", scopes=["admin"])
    with TestClient(app) as client:
        for i in range(2):
            made = client.post("/v1/memories", json={"content": f"the sky is green {i}", "key": "sky-secret"},
                               headers=_bearer(writer))
            assert made.status_code == 201, made.text
        assert client.get("/v1/memories/sky-secret", headers=_bearer(writer)).status_code == 200
        assert client.get("/v1/memories/no-such-key", headers=_bearer(writer)).status_code == 404
        assert client.post("/v1/memories", json={"content": "x"}).status_code == 401
        assert client.get("/not/a/route/at/all").status_code == 404
        samples = _scrape(client, admin)

    count = "hive_http_requests_total"
    assert _value(samples, count, method="POST", route="/v1/memories", status="201") == 2
    assert _value(samples, count, method="POST", route="/v1/memories", status="401") == 1
    assert _value(samples, count, method="GET", route="/v1/memories/{key}", status="200") == 1
    assert _value(samples, count, method="GET", route="/v1/memories/{key}", status="404") == 1
    assert _value(samples, count, method="GET", route=UNMATCHED_ROUTE, status="404") == 1
    seconds = "hive_http_request_duration_seconds"
    assert _value(samples, f"{seconds}_count", method="POST", route="/v1/memories") == 3
    assert _value(samples, f"{seconds}_bucket", method="POST", route="/v1/memories", le="+Inf") == 3
    assert (_value(samples, f"{seconds}_sum", method="POST", route="/v1/memories") or 0) > 0
    # Raw paths never become label values: no series per key, nothing of a tenant's keys leaks.
    labels = {value for _, pairs in samples for _, value in pairs}
    assert not any("secret" in v or "no-such-key" in v or "/not/a" in v for v in labels)
    assert _value(samples, "hive_stack_open") == 1


def test_a_mounted_app_is_one_route_whatever_the_path_below_it(tmp_path: Path) -> None:
    app, keys = _app(tmp_path)
    admin, _ = keys.create("ops", scopes=["admin"])

    async def plain(scope: Any, receive: Any, send: Any) -> None:  # an ASGI app that does no routing
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app.mount("/sub", plain)
    with TestClient(app) as client:
        assert client.get("/sub/tenant-a/secret-thing").status_code == 204
        assert client.get("/sub/other").status_code == 204
        samples = _scrape(client, admin)
    assert _value(samples, "hive_http_requests_total", method="GET", route="/sub/{path}", status="204") == 2
    # Routers that record the mount itself (plain Starlette) give the same label.
    assert route_template({"route": Mount("/sub", app=plain), "root_path": "/sub"}) == "/sub/{path}"


class _RouterForSubmit:
    """Routes a step whose goal asks to submit; escalates the others."""

    def decide(self, state: AgentState) -> RouteDecision:
        if "submit" in state.goal:
            return RouteDecision(Action(command="submit"), "submit", 0.99, False, "fake")
        return RouteDecision(None, None, 0.1, True, "unsure")


def _long_session(goal: str) -> list[dict[str, str]]:
    log = "\n".join(f"tests/test_mod.py::test_case_{i} PASSED" for i in range(300))
    msgs = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": goal}]
    for i in range(4):
        msgs.append({"role": "assistant", "content": f"run the tests, try {i}\n```\npytest tests\n```"})
        msgs.append({"role": "user", "content": f"OBSERVATION:\n{log}\n{i} passed"})
    return msgs


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[MemoryStore, HiveMind]]:
    # The embedding worker is off so outbox rows wait until the test indexes them.
    memory = MemoryStore(InMemoryGraphStore(), InMemoryVectorIndex(), HashingEmbedder(64), namespace=("acme",),
                         start_worker=False)
    directory = tmp_path / "hivemind"
    shared = (SQLiteChannelLog.from_path(directory), SQLiteAgentRegistry.from_path(directory),
              SQLiteLearningLog.from_path(directory))
    queue = PendingQueue(directory / "pending.sqlite3", capacity=10)
    reconciler = Reconciler(*shared, queue, start=False)
    hivemind = HiveMind(*shared, reconciler=reconciler,
                        _closers=[queue.close, *(s.close for s in shared)])
    yield memory, hivemind
    memory.close()
    hivemind.close()


def test_the_stack_figures_are_read_when_scraped(tmp_path: Path, parts: tuple[MemoryStore, HiveMind]) -> None:
    memory, hivemind = parts
    config = _config(tmp_path, guard={"failure_threshold": 1})
    stack = HiveStack(config, memory=memory, policy=_RouterForSubmit(), hivemind=hivemind)
    app, keys = _app(tmp_path, lambda: stack)
    admin, _ = keys.create("ops", scopes=["admin"])
    with TestClient(app) as client:
        assert _value(_scrape(client, admin), "hive_steps_total", outcome="routed") is None  # not open yet
        served = app.state.hive.stack()
        assert served is stack
        pipeline = stack.pipeline()
        me = Identity("acme", "coder", "run-1")
        assert pipeline.step(_long_session("Please submit the patch."), me, lambda view: "x").decision
        pipeline.step(_long_session("Fix the parser."), me.with_thread("run-2"), lambda view: "answer")
        pipeline.step(_long_session("Fix the lexer."), me.with_thread("run-3"), lambda view: "answer")
        breaker = stack.guard.breaker("gpt-4o")
        breaker.record_failure(breaker.before_call())  # failure_threshold=1: open
        stack.guard.breaker("claude")
        assert hivemind.reconciler is not None
        hivemind.reconciler.queue.put("publish", "acme", "evt-1", "{}", replace=False)
        hivemind.reconciler.queue.put("publish", "acme", "evt-2", "{}", replace=False)

        samples = _scrape(client, admin)
        counts = stack.stats.snapshot()
        pending = memory.graph.outbox_pending()
        memory.index_pending()
        drained = _scrape(client, admin)

    assert _value(samples, "hive_stack_open") == 1
    assert _value(samples, "hive_steps_total", outcome="routed") == 1
    assert _value(samples, "hive_steps_total", outcome="escalated") == 2
    saved = counts["pipeline.tokens_saved"]
    assert saved > 1000 and _value(samples, "hive_compression_tokens_saved_total") == saved
    written = counts["memory.remembered"]
    assert written >= 3 and _value(samples, "hive_memories_written_total") == written
    assert _value(samples, "hive_stack_events_total", counter="pipeline.compressed") == 2
    assert _value(samples, "hive_breaker_state", breaker="gpt-4o", state="open") == 1
    assert _value(samples, "hive_breaker_state", breaker="gpt-4o", state="closed") == 0
    assert _value(samples, "hive_breaker_state", breaker="claude", state="closed") == 1
    assert pending == written and _value(samples, "hive_queue_depth", queue="embedding_outbox") == pending
    assert _value(drained, "hive_queue_depth", queue="embedding_outbox") == 0
    assert _value(samples, "hive_queue_depth", queue="hivemind_pending") == 2


def test_a_value_that_cannot_be_read_is_left_out_and_counted(
    tmp_path: Path, parts: tuple[MemoryStore, HiveMind]
) -> None:
    memory, hivemind = parts
    stack = HiveStack(_config(tmp_path), memory=memory, hivemind=hivemind)
    app, keys = _app(tmp_path, lambda: stack)
    admin, _ = keys.create("ops", scopes=["admin"])
    with TestClient(app) as client:
        app.state.hive.stack()
        assert hivemind.reconciler is not None
        hivemind.reconciler.queue.close()  # the local queue's file is gone
        samples = _scrape(client, admin)
    assert _value(samples, "hive_queue_depth", queue="hivemind_pending") is None
    assert _value(samples, "hive_queue_depth", queue="embedding_outbox") == 0
    assert _value(samples, "hive_metrics_read_errors_total", source="hivemind_pending") == 1


def test_two_apps_in_one_process_keep_their_own_metrics(tmp_path: Path) -> None:
    first, keys_a = _app(tmp_path / "a")
    second, keys_b = _app(tmp_path / "b")  # a shared global registry would refuse the same names
    admin_a, _ = keys_a.create("ops", scopes=["admin"])
    admin_b, _ = keys_b.create("ops", scopes=["admin"])
    with TestClient(first) as a, TestClient(second) as b:
        for _ in range(3):
            assert a.get("/healthz").status_code == 200
        assert b.get("/healthz").status_code == 200
        ours, theirs = _scrape(a, admin_a), _scrape(b, admin_b)
    count = "hive_http_requests_total"
    assert _value(ours, count, method="GET", route="/healthz", status="200") == 3
    assert _value(theirs, count, method="GET", route="/healthz", status="200") == 1


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    found = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(found))
    return found


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def test_with_hive_otel_each_request_is_one_server_span_with_route_status_and_tenant(
    tmp_path: Path, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_OTEL", "1")
    app, keys = _app(tmp_path)
    writer, _ = keys.create("acme", agent="coder", scopes=["read", "write"])
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with TestClient(app) as client:
        made = client.post("/v1/memories", json={"content": "the sky is green", "key": "sky"},
                           headers={**_bearer(writer), "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
        assert made.status_code == 201
        (post,) = _server_spans(spans)  # one server span, whoever opened it
        spans.clear()
        assert client.get("/v1/memories/nope", headers=_bearer(writer)).status_code == 404
        (missing,) = _server_spans(spans)
    assert format(post.context.trace_id, "032x") == caller_trace  # continues the caller's trace
    attrs = post.attributes or {}
    assert attrs["http.route"] == "/v1/memories" and attrs["http.response.status_code"] == 201
    assert attrs["http.request.method"] == "POST"
    assert attrs["hive.tenant"] == "acme" and attrs["hive.agent"] == "coder"
    assert (missing.attributes or {})["http.route"] == "/v1/memories/{key}"
    assert (missing.attributes or {})["http.response.status_code"] == 404
    assert missing.status.status_code is not StatusCode.ERROR  # a 404 is the caller's, not the server's


def _bare_app(tmp_path: Path) -> tuple[FastAPI, KeyStore]:
    """An app whose framework opens no span of its own, with only the observability module."""
    native = "telemetry" in inspect.signature(FastAPI).parameters
    app = FastAPI(**({"telemetry": {"tracing": False}} if native else {}))
    keys = KeyStore(tmp_path / "keys.sqlite")
    config = _config(tmp_path)
    ctx = ServerContext(stack_factory=lambda: HiveStack(config), keys=keys, audit=AuditLog(tmp_path / "a.jsonl"))
    observability.install(app, ctx)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler bug")

    return app, keys


def test_hive_opens_the_server_span_when_the_framework_does_not(
    tmp_path: Path, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_OTEL", "1")
    app, keys = _bare_app(tmp_path)
    admin, _ = keys.create("ops", scopes=["admin"])
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/metrics", headers=_bearer(admin)).status_code == 200
        assert client.get("/nowhere").status_code == 404
        assert client.get("/boom").status_code == 500
    named = {s.name: s for s in _server_spans(spans)}
    assert set(named) == {"GET /metrics", f"GET {UNMATCHED_ROUTE}", "GET /boom"}
    metrics = named["GET /metrics"].attributes or {}
    assert metrics["http.route"] == "/metrics" and metrics["http.response.status_code"] == 200
    assert metrics["hive.tenant"] == "ops"
    assert (named[f"GET {UNMATCHED_ROUTE}"].attributes or {})["url.path"] == "/nowhere"
    boom = named["GET /boom"]
    assert boom.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in boom.events)


def test_otel_in_the_stack_config_traces_once_the_stack_is_open(
    tmp_path: Path, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HIVE_OTEL", raising=False)
    app, keys = _app(tmp_path, otel=True)
    admin, _ = keys.create("ops", scopes=["admin"])
    with TestClient(app) as client:
        assert client.get("/metrics", headers=_bearer(admin)).status_code == 200
        # Undecided while the stack is closed: no Hive span, no Hive attributes.
        assert not any("hive.tenant" in (s.attributes or {}) for s in spans.get_finished_spans())
        app.state.hive.stack()
        spans.clear()
        assert client.get("/metrics", headers=_bearer(admin)).status_code == 200
        (scrape,) = _server_spans(spans)
    assert (scrape.attributes or {})["hive.tenant"] == "ops"


def test_tracing_asked_for_without_opentelemetry_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # an install without the [otel] extra
    monkeypatch.setenv("HIVE_OTEL", "1")
    with pytest.raises(HiveDependencyError, match=r"hive-middleware\[otel\]"):
        _app(tmp_path / "env")
    monkeypatch.delenv("HIVE_OTEL")
    app, _ = _app(tmp_path / "config", otel=True)
    with TestClient(app) as client:
        app.state.hive.stack()
        refused = client.get("/healthz")
    assert refused.status_code == 500
    body = refused.json()
    assert body["error"] == "HiveDependencyError" and "hive-middleware[otel]" in body["message"]
