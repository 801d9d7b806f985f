"""Prometheus metrics and OpenTelemetry traces of the Hive HTTP service.

``GET /metrics`` answers in the Prometheus text format and needs a key with the
``admin`` scope (``hive keys create --tenant ops --scopes admin``; in Prometheus,
``authorization: {credentials: KEY}`` in the scrape config): the figures add up
every tenant's traffic, which no tenant key should see. Each app has its own
registry, so several apps in one process never share or clash over a metric.

Every HTTP request is counted and timed by an ASGI middleware, labelled by
method and route *template* (``/v1/memories/{key}``, never the raw path;
``/mcp/{path}`` for a mounted app that routes nothing itself, ``<unmatched>``
for paths no route serves):

* ``hive_http_requests_total{method, route, status}``
* ``hive_http_request_duration_seconds{method, route}`` (histogram, buckets
  :data:`LATENCY_BUCKETS_S`)

The stack's own figures (steps routed and escalated, tokens saved, memories
written, breaker states, queue depths) are read at scrape time by
:class:`~hive_middleware.integrations.server.stack_metrics.StackCollector`.
When tracing is on, the same middleware opens a server span per request, or
adds Hive's attributes to the framework's own server span
(:mod:`~hive_middleware.integrations.server.http_tracing`). WebSocket
connections pass through unmeasured.
"""

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from hive_middleware.integrations.server.app import error_body, status_for
from hive_middleware.integrations.server.context import ServerContext
from hive_middleware.integrations.server.http_tracing import RequestSpan, RequestTracing
from hive_middleware.integrations.server.stack_metrics import StackCollector

from hive_middleware.errors import HiveDependencyError, HiveError

try:
    from fastapi import FastAPI, Response
    from fastapi.responses import JSONResponse
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from starlette.routing import Mount
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError(
        "metrics need FastAPI and prometheus-client: install hive-middleware[server]", extra="server"
    ) from exc

__all__ = [
    "LATENCY_BUCKETS_S",
    "UNMATCHED_ROUTE",
    "Observability",
    "ObservedRequests",
    "install",
    "route_template",
]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the request latency histogram, seconds (fine below 50 ms, where the targets are)."""

UNMATCHED_ROUTE = "<unmatched>"
"""The route label of a request no route serves (raw paths would make a series per path)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Observability:
    """One app's metrics (kept in ``ctx.extras["observability"]``).

    Attributes:
        registry: The app's Prometheus registry.
        requests: ``hive_http_requests_total``.
        latency: ``hive_http_request_duration_seconds``.
        tracing: Decides whether requests get spans.
    """

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    tracing: RequestTracing

    @classmethod
    def create(cls, ctx: ServerContext) -> "Observability":
        """Metrics in a new registry, with the stack collector registered."""
        registry = CollectorRegistry()
        requests = Counter(
            "hive_http_requests",
            "HTTP requests, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        latency = Histogram(
            "hive_http_request_duration_seconds",
            "HTTP request latency, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        registry.register(StackCollector(ctx))
        return cls(registry, requests, latency, RequestTracing(ctx))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


def route_template(scope: Scope, root_path: str = "") -> str:
    """The template of the route that served ``scope`` (after routing), prefixed by any mount.

    Args:
        scope: The request's ASGI scope, as routing left it.
        root_path: ``root_path`` of the scope before routing (a mount extends it).
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    if isinstance(route, Mount) or (not isinstance(path, str) and mounted):
        # A mounted app that did no routing of its own (some routers record no route for a mount).
        return f"{path if isinstance(route, Mount) else mounted}/{{path}}"
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    return mounted + path


class ObservedRequests:
    """ASGI middleware: counts and times each HTTP request, and traces it when tracing is on.

    Args:
        app: The wrapped ASGI app.
        observability: Where requests are counted.
    """

    def __init__(self, app: Asgi, observability: Observability) -> None:
        self.app = app
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection; only HTTP requests are measured."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, root_path, start = scope.get("method", "GET"), scope.get("root_path", ""), time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        span: RequestSpan | None = None

        def finish_span() -> None:
            nonlocal span
            if span is not None:
                span.finish(method, route_template(scope, root_path), status, scope)
                span = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                finish_span()  # before the body: a framework's span ends with the last byte
            await send(message)

        try:
            span_context = self.observability.tracing.span(scope)
        except HiveError as exc:  # tracing asked for but unusable: say why on every request
            await JSONResponse(error_body(exc), status_code=status_for(exc))(scope, receive, send_status)
            self.observability.observe(
                method, route_template(scope, root_path), status, time.perf_counter() - start
            )
            return
        with span_context as opened:
            span = opened
            try:
                await self.app(scope, receive, send_status)
            finally:
                self.observability.observe(
                    method, route_template(scope, root_path), status, time.perf_counter() - start
                )
                finish_span()


def install(app: FastAPI, ctx: ServerContext) -> None:
    """Add ``GET /metrics`` and the request-measuring middleware to ``app``.

    Raises:
        HiveDependencyError: ``HIVE_OTEL=1`` and opentelemetry is not installed.
    """
    observability = Observability.create(ctx)
    ctx.extras["observability"] = observability
    app.add_middleware(ObservedRequests, observability=observability)
    Admin = ctx.admin

    @app.get("/metrics", tags=["probes"], response_class=Response)
    async def metrics(who: Admin) -> Response:
        """Prometheus metrics of the service and its stack (text format; needs the ``admin`` scope)."""
        body = await ctx.run(lambda: generate_latest(observability.registry))
        return Response(body, media_type=CONTENT_TYPE_LATEST)
