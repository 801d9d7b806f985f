"""OpenTelemetry traces of the step pipeline: off unless configured, free when off.

Tracing is on when the stack's config says so (``otel = true`` in ``hive.toml``,
or ``HIVE_OTEL=1``, which :meth:`~hive_middleware.config.HiveConfig.load` reads
into the same field). Something with no config of its own (a stack-like object
without ``config``, a server before its stack is open) reads ``HIVE_OTEL``
directly.

When off, nothing is imported from ``opentelemetry``: every stage enters one
shared no-op context (:data:`NO_TRACING`). When on, spans go to the *global*
tracer provider, so the application chooses exporters and sampling
(``opentelemetry.trace.set_tracer_provider``); a missing package raises
:class:`~hive_middleware.errors.HiveDependencyError` naming the ``[otel]`` extra.

Spans are named ``hive.<stage>``; one :meth:`Pipeline.step` gives::

    hive.step            hive.routed, hive.escalated
    ├── hive.remember    hive.items, hive.remembered
    ├── hive.route       hive.escalated, hive.template, hive.confidence
    ├── hive.compress    hive.tokens_before, hive.tokens_after, hive.messages_before, hive.messages_after
    ├── hive.recall      hive.recall_k, hive.recall_scope, hive.recalled
    └── hive.llm         hive.messages (the guarded model call; its errors mark the span)

Every span carries ``hive.tenant``, ``hive.agent`` and ``hive.thread``. Each
:class:`~hive_middleware.pipeline.core.HiveEvent` becomes a span event on the
stage span that emitted it; a hook failure marks that span as an error (the
call itself goes on, as hooks fail open).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from hive_middleware.errors import HiveConfigError, HiveDependencyError

if TYPE_CHECKING:
    from hive_middleware.pipeline.identity import Identity

__all__ = [
    "ATTRIBUTE_PREFIX",
    "INSTRUMENTATION_NAME",
    "NO_TRACING",
    "OTEL_ENV",
    "SPAN_PREFIX",
    "OtelTracing",
    "StageSpan",
    "Tracing",
    "span_attributes",
    "tracing_for",
    "tracing_requested",
]

OTEL_ENV = "HIVE_OTEL"
"""Environment variable that turns tracing on (``1``/``true``/``yes``/``on``)."""
INSTRUMENTATION_NAME = "hive_middleware"
"""The instrumentation scope of every Hive span."""
SPAN_PREFIX = "hive."
ATTRIBUTE_PREFIX = "hive."

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class StageSpan(Protocol):
    """The span of one stage, as the pipeline sees it."""

    def set(self, **attributes: object) -> None:
        """Set ``hive.<name>`` attributes (``None`` values are skipped)."""


class _NullSpan:
    def set(self, **attributes: object) -> None:
        pass


_NULL_SPAN = _NullSpan()
# One reusable context for every stage while tracing is off: entering it allocates nothing.
_NULL_CONTEXT: AbstractContextManager[StageSpan] = nullcontext(_NULL_SPAN)


class Tracing:
    """Opens a span per pipeline stage; this base class is the no-op used while tracing is off.

    Attributes:
        enabled: Whether spans are recorded.
        tracer: The OpenTelemetry tracer (``None`` when off).
    """

    enabled: bool = False
    tracer: Any = None

    def span(
        self, stage: str, identity: Identity | None = None, **attributes: object
    ) -> AbstractContextManager[StageSpan]:
        """A context around one stage, named ``hive.<stage>``, made current while it runs.

        Args:
            stage: ``step``, ``remember``, ``route``, ``compress``, ``recall``, ``llm``...
            identity: Whose step it is (``hive.tenant``, ``hive.agent``, ``hive.thread``).
            **attributes: More ``hive.<name>`` attributes.
        """
        return _NULL_CONTEXT

    def event(self, kind: str, detail: Mapping[str, Any]) -> None:
        """Record a pipeline event on the current span (a ``hook_error`` marks it failed)."""


NO_TRACING = Tracing()
"""The tracing of a pipeline whose config leaves tracing off."""


class OtelTracing(Tracing):
    """Spans through an OpenTelemetry tracer.

    Args:
        tracer: An ``opentelemetry.trace.Tracer``.
    """

    enabled = True

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace

        self.tracer = tracer
        self._trace = trace

    @contextmanager
    def _span(self, name: str, attributes: dict[str, Any]) -> Iterator[StageSpan]:
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            yield _OtelSpan(span)

    def span(
        self, stage: str, identity: Identity | None = None, **attributes: object
    ) -> AbstractContextManager[StageSpan]:
        """See :meth:`Tracing.span`."""
        found = span_attributes(attributes)
        if identity is not None:
            found.update(span_attributes({"tenant": identity.tenant, "agent": identity.agent,
                                          "thread": identity.thread}))
        return self._span(SPAN_PREFIX + stage, found)

    def event(self, kind: str, detail: Mapping[str, Any]) -> None:
        """See :meth:`Tracing.event`."""
        span = self._trace.get_current_span()
        if not span.is_recording():
            return
        span.add_event(kind, {k: v for k, v in ((k, _value(v)) for k, v in detail.items()) if v is not None})
        if kind == "hook_error":
            error = str(detail.get("error", "hook failed"))
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error))


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def set(self, **attributes: object) -> None:
        self._span.set_attributes(span_attributes(attributes))


def _value(value: object) -> Any:
    """An attribute value OpenTelemetry accepts: a scalar, a list of one scalar type, or text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
        if all(isinstance(v, str) for v in items):
            return items
        if all(isinstance(v, bool) for v in items) or all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in items
        ):
            return items
        return [str(v) for v in items]
    return str(value)


def span_attributes(attributes: Mapping[str, object]) -> dict[str, Any]:
    """``attributes`` as ``hive.<name>`` span attributes (``None`` values dropped, others made valid)."""
    return {ATTRIBUTE_PREFIX + k: _value(v) for k, v in attributes.items() if v is not None}


def _env_flag(environ: Mapping[str, str]) -> bool:
    raw = environ.get(OTEL_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise HiveConfigError(
        f"{OTEL_ENV}={environ[OTEL_ENV]!r} is not a switch: set it to 1 (trace) or 0 (do not trace)",
        key=OTEL_ENV,
    )


def tracing_requested(config: object | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """Whether tracing is asked for: ``config.otel`` when ``config`` has it, else ``HIVE_OTEL``.

    Args:
        config: A :class:`~hive_middleware.config.HiveConfig` (its ``otel`` field already
            reflects ``HIVE_OTEL`` when it came from :meth:`HiveConfig.load`).
        environ: Environment read when there is no config (default ``os.environ``).

    Raises:
        HiveConfigError: ``HIVE_OTEL`` is set to something other than a yes/no switch.
    """
    otel = getattr(config, "otel", None)
    if isinstance(otel, bool):
        return otel
    return _env_flag(os.environ if environ is None else environ)


def tracing_for(
    config: object | None = None, *, environ: Mapping[str, str] | None = None, tracer_provider: Any = None
) -> Tracing:
    """The tracing a pipeline over ``config`` uses: :data:`NO_TRACING` unless requested.

    Args:
        config: Decides, see :func:`tracing_requested`.
        environ: Environment read when there is no config (default ``os.environ``).
        tracer_provider: Use this provider instead of the global one.

    Raises:
        HiveDependencyError: tracing is on and ``opentelemetry-api`` is not installed.
        HiveConfigError: ``HIVE_OTEL`` has a value that is not a switch.
    """
    if not tracing_requested(config, environ=environ):
        return NO_TRACING
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise HiveDependencyError(
            f"tracing is on (otel = true or {OTEL_ENV}=1) but opentelemetry is not installed: "
            "install hive-middleware[otel], or turn tracing off",
            extra="otel",
        ) from exc
    from hive_middleware import __version__

    return OtelTracing(trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider))
