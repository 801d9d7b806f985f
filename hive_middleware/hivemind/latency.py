"""Measuring channel delivery latency across processes (for ``hive bench`` and tests).

:func:`measure_channel_latency` starts a subscriber in a second process, waits
until it is subscribed, then publishes ``events`` events from this process,
``gap_s`` apart; the subscriber notes, for each event, the time from the
publisher stamping it (``published_at``, just before the append) to the event
coming out of its iterator. Both processes run on this machine, so they read
the same wall clock. The back-end is whatever ``config.shared`` selects.
"""

from __future__ import annotations

import multiprocessing
import queue
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from hive_middleware.config import HiveConfig
from hive_middleware.errors import HiveRuntimeError
from hive_middleware.types import MemoryKind, MemoryRecord

__all__ = ["DeliveryLatency", "measure_channel_latency"]


@dataclass(frozen=True, slots=True)
class DeliveryLatency:
    """Publish-to-receive latency of one run, in milliseconds.

    Attributes:
        backend: ``"redis"`` or ``"sqlite"``.
        events: Events delivered (all that were published).
        p50_ms: Median latency.
        p95_ms: 95th percentile.
        max_ms: Largest latency.
    """

    backend: str
    events: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _subscriber(config: dict[str, Any], tenant: str, channel: str, n: int, ready: Any, out: Any) -> None:
    from hive_middleware.hivemind.channels import Channels
    from hive_middleware.hivemind.wiring import open_hivemind

    hive = open_hivemind(HiveConfig.model_validate(config))
    try:
        channels = Channels(hive.channels, tenant)
        latencies: list[float] = []
        with channels.subscribe(channel, wait_s=0.5) as sub:
            ready.put(True)
            deadline = time.monotonic() + 120
            while len(latencies) < n and time.monotonic() < deadline:
                event = sub.get(timeout=1.0)
                if event is not None:
                    latencies.append(time.time() - event.published_at.timestamp())
        out.put(latencies)
    finally:
        hive.close()


def measure_channel_latency(
    config: HiveConfig,
    *,
    events: int = 50,
    gap_s: float = 0.02,
    tenant: str | None = None,
    timeout_s: float = 120.0,
) -> DeliveryLatency:
    """Publish in this process, receive in another, and report the latency.

    Args:
        config: Settings (``shared.redis`` picks Redis, else the SQLite file under ``data_dir``).
        events: Events to publish.
        gap_s: Pause between publishes (each event is delivered on its own).
        tenant: Tenant of the probe channel (default ``config.tenant``).
        timeout_s: Longest wait for the subscriber.

    Raises:
        HiveRuntimeError: the subscriber did not start or did not receive every event in time.
    """
    from hive_middleware.hivemind.channels import Channels
    from hive_middleware.hivemind.wiring import open_hivemind

    tenant = tenant or config.tenant
    channel = f"latency-probe-{uuid.uuid4().hex[:12]}"
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_subscriber, args=(config.model_dump(), tenant, channel, events, ready, out), daemon=True)
    proc.start()
    hive = open_hivemind(config)
    try:
        try:
            ready.get(timeout=timeout_s)
        except queue.Empty as exc:
            raise HiveRuntimeError(f"the latency subscriber did not start within {timeout_s}s") from exc
        channels = Channels(hive.channels, tenant)
        for i in range(events):
            record = MemoryRecord(id=uuid.uuid4().hex, namespace=(tenant,), kind=MemoryKind.EPISODIC,
                                  content=f"probe {i}", recorded_at=0)
            channels.publish(channel, record)
            time.sleep(gap_s)
        try:
            latencies: list[float] = out.get(timeout=timeout_s)
        except queue.Empty as exc:
            raise HiveRuntimeError(f"the latency subscriber returned nothing within {timeout_s}s") from exc
    finally:
        hive.close()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    if len(latencies) != events:
        raise HiveRuntimeError(f"the subscriber received {len(latencies)} of {events} events", received=len(latencies))
    ms = sorted(x * 1000 for x in latencies)
    return DeliveryLatency(
        backend="redis" if config.shared.redis else "sqlite",
        events=events,
        p50_ms=statistics.median(ms),
        p95_ms=ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
        max_ms=ms[-1],
    )
