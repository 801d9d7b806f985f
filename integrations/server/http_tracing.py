"""A server span per HTTP request of the Hive service, when tracing is on.

Tracing follows :mod:`hive_middleware.telemetry`: ``HIVE_OTEL=1`` in the
environment traces every request from the first; ``otel = true`` in the stack's
config traces the requests that find the stack open (it opens on first use).
When neither asks, this module imports nothing from ``opentelemetry``.

A span is named ``METHOD /route/{template}`` (the route, never the raw path, so
keys and ids stay out of span names), is of kind SERVER, continues the caller's
trace (``traceparent`` through the global propagator) and carries
``http.request.method``, ``http.route``, ``http.response.status_code``,
``url.path`` and the key's ``hive.tenant`` (and ``hive.agent``). Pipeline spans
opened while the request runs (``hive.step``...) are its children.

FastAPI versions with native OpenTelemetry support open a server span of their
own whenever a global tracer provider is configured (``FastAPI(telemetry=...)``
controls it). Hive then adds its attributes to that span instead of opening a
second one, so each request is still one server span.
"""

from collections.abc import Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from hive_middleware.integrations.server.context import ServerContext

from hive_middleware.telemetry import Tracing, tracing_for, tracing_requested

__all__ = ["RequestSpan", "RequestTracing"]

_OFF: AbstractContextManager["RequestSpan | None"] = nullcontext(None)


class RequestSpan:
    """The span of one request, finished with what routing and the response said.

    Args:
        span: The OpenTelemetry span.
        status_code: ``opentelemetry.trace.StatusCode``.
        owned: Whether Hive opened the span (else the framework did, and names and ends it).
    """

    def __init__(self, span: Any, status_code: Any, *, owned: bool = True) -> None:
        self.span = span
        self.owned = owned
        self._codes = status_code

    def finish(self, method: str, route: str, status: int, scope: MutableMapping[str, Any]) -> None:
        """Record the caller's tenant and, on a span Hive owns, the route and response status."""
        principal = (scope.get("state") or {}).get("principal")
        if principal is not None:
            self.span.set_attribute("hive.tenant", principal.tenant)
            if principal.agent:
                self.span.set_attribute("hive.agent", principal.agent)
        if not self.owned:
            return
        self.span.update_name(f"{method} {route}")
        self.span.set_attribute("http.route", route)
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(self._codes.ERROR, f"HTTP {status}")


class RequestTracing:
    """Decides once whether requests are traced, and opens their spans.

    Args:
        ctx: The service's shared parts (the stack's config decides once it is open).

    Raises:
        HiveDependencyError: ``HIVE_OTEL=1`` and opentelemetry is not installed.
    """

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._tracing: Tracing | None = tracing_for() if tracing_requested() else None

    def current(self) -> Tracing | None:
        """The tracing in force (``None`` while it is undecided: no environment switch, stack not open).

        Raises:
            HiveDependencyError: the stack's config turns tracing on and opentelemetry is missing.
        """
        if self._tracing is None and self._ctx.stack_opened:
            self._tracing = tracing_for(self._ctx.stack().config)
        return self._tracing

    def span(self, scope: MutableMapping[str, Any]) -> AbstractContextManager[RequestSpan | None]:
        """A context around one request: its :class:`RequestSpan`, or ``None`` when not traced.

        Raises:
            HiveDependencyError: see :meth:`current`.
        """
        tracing = self.current()
        if tracing is None or not tracing.enabled:
            return _OFF
        native = getattr(scope.get("fastapi.telemetry"), "span", None)
        if native is not None:  # FastAPI's own server span for this request
            from opentelemetry import trace

            return nullcontext(RequestSpan(native, trace.StatusCode, owned=False))
        return self._span(tracing, scope)

    @contextmanager
    def _span(self, tracing: Tracing, scope: MutableMapping[str, Any]) -> Iterator[RequestSpan]:
        from opentelemetry import propagate, trace

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        method = scope.get("method", "GET")
        attributes = {
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
        }
        with tracing.tracer.start_as_current_span(
            method, context=propagate.extract(headers), kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:
            yield RequestSpan(span, trace.StatusCode)
