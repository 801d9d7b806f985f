"""Prometheus metrics read from the stack at scrape time.

Nothing is counted twice: the collector reads the stack's own counters
(``stack.stats``), its breakers and its queue depths each time ``/metrics`` is
scraped. It reads only the parts already open (opening the memory store loads
its embedder; the guard and the hive mind may connect to Redis), so a scrape
never changes what the service has loaded. A value that cannot be read (a
back-end is down) is left out of that scrape, logged and counted in
``hive_metrics_read_errors_total{source}``; the scrape itself still answers.
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hive_middleware.integrations.server.context import ServerContext

from hive_middleware.errors import HiveDependencyError

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError(
        "/metrics needs prometheus-client: install hive-middleware[server]", extra="server"
    ) from exc

__all__ = ["BREAKER_STATES", "StackCollector"]

BREAKER_STATES = ("closed", "open", "half_open")
"""Every state ``hive_breaker_state`` reports, one series each (1 for the current one)."""

# stack.stats counters with a metric of their own: name -> (metric, label value or None).
_NAMED: Mapping[str, tuple[str, str | None]] = {
    "pipeline.routed": ("steps", "routed"),
    "pipeline.escalated": ("steps", "escalated"),
    "pipeline.tokens_saved": ("tokens_saved", None),
    "memory.remembered": ("memories_written", None),
}
_HOOK_ERROR = "hook_error."

logger = logging.getLogger("hive_middleware.server.metrics")


def _opened(stack: Any, part: str) -> Any:
    # The stack builds each part on first use and has no other way to ask whether
    # it did; reading the attribute behind the property never opens anything.
    return vars(stack).get(f"_{part}")


class StackCollector(Collector):
    """Reads the service's stack when Prometheus scrapes.

    Metrics:
        ``hive_stack_open``: 1 once the stack is open.
        ``hive_steps_total{outcome}``: pipeline steps the router answered
            (``routed``) or handed to the model (``escalated``).
        ``hive_compression_tokens_saved_total``: input tokens compression removed.
        ``hive_memories_written_total``: memories committed by the pipeline's writer.
        ``hive_hook_errors_total{stage}``: failed hooks the calls went on without.
        ``hive_stack_events_total{counter}``: every other ``stack.stats`` counter.
        ``hive_breaker_state{breaker, state}``: 1 for each breaker's current state.
        ``hive_queue_depth{queue}``: ``embedding_outbox`` (records waiting for their
            vector) and ``hivemind_pending`` (shared writes queued locally while the
            shared back-end is down).
        ``hive_metrics_read_errors_total{source}``: values a scrape could not read.

    Args:
        ctx: The service's shared parts.
    """

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._read_errors: dict[str, int] = {}

    def describe(self) -> Iterable[Metric]:
        """Nothing: registering must not read the stack."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The stack's metrics now."""
        opened = self.ctx.stack_opened
        yield GaugeMetricFamily("hive_stack_open", "1 once the service's stack is open.", value=int(opened))
        if opened:
            stack = self.ctx.stack()
            yield from self._counters(stack)
            yield from self._breakers(stack)
            yield self._queues(stack)
        errors = CounterMetricFamily(
            "hive_metrics_read_errors", "Values a scrape could not read, by source.", labels=["source"]
        )
        for source, n in sorted(self._read_errors.items()):
            errors.add_metric([source], n)
        yield errors

    def _read(self, source: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception:
            self._read_errors[source] = self._read_errors.get(source, 0) + 1
            logger.warning("metrics: could not read %s (left out of this scrape)", source, exc_info=True)
            return None

    def _counters(self, stack: Any) -> Iterator[Metric]:
        steps = CounterMetricFamily(
            "hive_steps",
            "Pipeline steps the router answered (routed) or handed to the model (escalated).",
            labels=["outcome"],
        )
        saved = CounterMetricFamily("hive_compression_tokens_saved", "Input tokens removed by compression.")
        written = CounterMetricFamily(
            "hive_memories_written", "Memories committed by the pipeline's durable writer."
        )
        hooks = CounterMetricFamily(
            "hive_hook_errors", "Failed hooks (the calls went on without them), by stage.", labels=["stage"]
        )
        others = CounterMetricFamily(
            "hive_stack_events", "Other counters of the stack (stack.stats), by name.", labels=["counter"]
        )
        counts: dict[str, int] = self._read("stats", stack.stats.snapshot) or {}
        for outcome in ("routed", "escalated"):
            steps.add_metric([outcome], counts.get(f"pipeline.{outcome}", 0))
        saved.add_metric([], counts.get("pipeline.tokens_saved", 0))
        written.add_metric([], counts.get("memory.remembered", 0))
        for name, value in counts.items():
            if name in _NAMED:
                continue
            if name.startswith(_HOOK_ERROR):
                hooks.add_metric([name[len(_HOOK_ERROR) :]], value)
            else:
                others.add_metric([name], value)
        yield from (steps, saved, written, hooks, others)

    def _breakers(self, stack: Any) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hive_breaker_state",
            "Circuit breaker states: 1 for the current one.",
            labels=["breaker", "state"],
        )
        guard = _opened(stack, "guard")
        breakers: Mapping[str, Any] = {} if guard is None else guard.breakers
        for name, breaker in sorted(breakers.items()):
            state = self._read(f"breaker:{name}", lambda b=breaker: str(b.state))
            if state is None:
                continue
            for candidate in BREAKER_STATES:
                family.add_metric([name, candidate], int(candidate == state))
        yield family

    def _queues(self, stack: Any) -> Metric:
        family = GaugeMetricFamily(
            "hive_queue_depth", "Items waiting in a queue, by queue.", labels=["queue"]
        )
        memory = _opened(stack, "memory")
        if memory is not None:
            pending = self._read("embedding_outbox", memory.graph.outbox_pending)
            if pending is not None:
                family.add_metric(["embedding_outbox"], pending)
        hivemind = _opened(stack, "hivemind")
        reconciler = getattr(hivemind, "reconciler", None)
        if reconciler is not None:
            queued = self._read("hivemind_pending", lambda: reconciler.pending)
            if queued is not None:
                family.add_metric(["hivemind_pending"], queued)
        return family
