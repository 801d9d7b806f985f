"""``hive bench serve``: the Hive HTTP service under load, over loopback, on the embedded default back-ends.

Steps:

1. Preload ``memories`` memories in process (``remember_many`` in batches,
   alternating two tenants, each carrying a unique marker word of its tenant),
   wait until every one is embedded (``memory.flush()``), close the stack.
2. Create keys: a read-write key per tenant, a read-only key and a revoked key.
3. Start ``hive serve`` as a child process on a free loopback port over that data
   directory and wait for its readiness probe.
4. Send a warm-up search per tenant (not measured), then ``requests`` requests
   with ``concurrency`` in flight through ``httpx.AsyncClient``: writes and
   searches of both tenants plus a share of probes that must be refused (see
   :mod:`hive_middleware.evals.serve_workload`).
5. Stop the server and report: ``requests``, ``errors``, ``latency_ms`` (overall
   and per operation), ``cross_tenant_leaks``, ``unauthenticated_accepted``,
   settings, machine, and the targets met.

Latency is the client's round trip, so it includes queueing behind the other
requests in flight; the client and the server share the machine's cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hive_middleware.errors import HiveDataError, HiveRuntimeError
from hive_middleware.evals.memory_bench import synthetic_sentences
from hive_middleware.evals.serve_process import ServeProcess
from hive_middleware.evals.serve_workload import (
    TENANTS,
    Credentials,
    LoadTally,
    marker,
    plan_requests,
    run_plan,
)
from hive_middleware.stats import percentile

__all__ = [
    "ServeBenchResult",
    "ServeBenchSettings",
    "create_keys",
    "preload_memories",
    "run_serve_bench",
    "serve_targets",
]

PRELOAD_BATCH = 500
"""Memories per ``remember_many`` transaction while preloading."""

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ServeBenchSettings:
    """What ``hive bench serve`` runs.

    Attributes:
        requests: Requests sent under load (probes included).
        concurrency: Requests in flight.
        memories: Memories preloaded before the server starts (both tenants).
        probe_share: Fraction of requests that are probes which must be refused.
        add_share: Fraction of the other requests that are writes (the rest search).
        seed: Seed of every random choice.
    """

    requests: int = 5_000
    concurrency: int = 50
    memories: int = 10_000
    probe_share: float = 0.1
    add_share: float = 0.5
    seed: int = 7

    def check(self) -> None:
        """Raise :class:`HiveDataError` naming the first bad setting."""
        if self.requests < 1:
            raise HiveDataError(f"--requests must be at least 1, got {self.requests}")
        if self.concurrency < 1:
            raise HiveDataError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.memories < 0:
            raise HiveDataError(f"--memories must be 0 or more, got {self.memories}")
        if not (0.0 <= self.probe_share < 1.0 and 0.0 <= self.add_share <= 1.0):
            raise HiveDataError("probe_share must be in [0, 1) and add_share in [0, 1]")


@dataclass
class ServeBenchResult:
    """The payload of ``bench_serve.json`` and the raw latencies behind it (for the plot).

    Attributes:
        payload: The JSON payload.
        latency_ms: Every authenticated request's round trip, by operation.
    """

    payload: dict[str, Any]
    latency_ms: dict[str, list[float]] = field(default_factory=dict)


def _config(data_dir: Path) -> Any:
    from hive_middleware.config import HiveConfig

    return HiveConfig.load().model_copy(update={"data_dir": str(data_dir)})


def preload_memories(data_dir: Path, count: int, *, seed: int = 7, progress: Progress | None = None) -> float:
    """Write ``count`` memories over both tenants in process, wait until all are embedded, close.

    The ``i``-th memory belongs to ``TENANTS[i % 2]`` (namespace ``(tenant,)``, the
    namespace a tenant key without an agent works in) and carries
    ``marker(tenant, "p", i)``.

    Returns:
        Seconds taken (writes and embedding).

    Raises:
        HiveRuntimeError: the embedding worker did not drain the outbox.
    """
    from hive_middleware.stack import HiveStack

    note = progress or (lambda _stage, _done, _total: None)
    sentences = synthetic_sentences(count, seed=seed)
    started = time.perf_counter()
    stack = HiveStack.from_config(_config(data_dir))
    try:
        memory = stack.memory
        for lo in range(0, count, PRELOAD_BATCH):
            drafts = []
            for i in range(lo, min(count, lo + PRELOAD_BATCH)):
                tenant = TENANTS[i % len(TENANTS)]
                drafts.append({"content": f"{sentences[i]} {marker(tenant, 'p', i)}", "namespace": (tenant,)})
            memory.remember_many(drafts)
            note("preload", min(count, lo + PRELOAD_BATCH), count)
        stalled = 0
        while not memory.flush(timeout=30):
            left = memory.graph.outbox_pending()
            note("embed", count - left, count)
            stalled += 1
            if stalled > 120:
                raise HiveRuntimeError(f"preloaded memories were not embedded after an hour ({left} left)")
        note("embed", count, count)
    finally:
        stack.close()
    return time.perf_counter() - started


def create_keys(data_dir: Path) -> Credentials:
    """A read-write key per tenant, a read-only key and a revoked key, in ``data_dir/server/keys.sqlite``."""
    from hive_middleware.integrations.server.keys import KeyStore

    store = KeyStore(data_dir / "server" / "keys.sqlite")
    try:
        tenant_keys = {t: store.create(t, scopes=["read", "write"])[0] for t in TENANTS}
        read_only = store.create(TENANTS[0], scopes=["read"])[0]
        revoked, info = store.create(TENANTS[0], scopes=["read", "write"])
        store.revoke(info.key_id)
    finally:
        store.close()
    return Credentials(tenant_keys=tenant_keys, revoked=revoked, read_only=read_only)


def _warm_up(base_url: str, creds: Credentials) -> int:
    """One search per tenant before the measured run (the stack opens and the query model loads)."""
    with httpx.Client(base_url=base_url, timeout=300.0) as client:
        for tenant, key in creds.tenant_keys.items():
            response = client.post("/v1/memories/search", json={"query": f"warm up {tenant}", "k": 1},
                                   headers={"Authorization": f"Bearer {key}"})
            if response.status_code != 200:
                raise HiveRuntimeError(
                    f"the warm-up search answered {response.status_code}: {response.text[:300]}",
                    status_code=response.status_code,
                )
    return len(creds.tenant_keys)


def _summary(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": (round(percentile(values, q), 3) if values else None) for q in (50, 95, 99)}


def _machine(load_before: float) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def _backends(config: Any) -> dict[str, Any]:
    memory = config.memory
    return {"graph": memory.graph, "vector_index": memory.vector_index, "vectors": memory.vectors,
            "embedder": memory.embedder}


def serve_targets(payload: dict[str, Any]) -> dict[str, bool | None]:
    """Which of the service's targets the payload meets (``None``: not measured)."""
    add_p99 = payload["latency_ms"]["add"]["p99"]
    search_p95 = payload["latency_ms"]["search"]["p95"]
    return {
        "errors == 0": payload["errors"] == 0,
        "cross_tenant_leaks == 0": payload["cross_tenant_leaks"] == 0,
        "unauthenticated_accepted == 0": payload["unauthenticated_accepted"] == 0,
        "add p99 <= 20 ms": None if add_p99 is None else add_p99 <= 20,
        "search p95 <= 50 ms": None if search_p95 is None else search_p95 <= 50,
    }


def _payload(tally: LoadTally, settings: ServeBenchSettings, extra: dict[str, Any]) -> dict[str, Any]:
    everything = tally.latency_ms["add"] + tally.latency_ms["search"]
    latency: dict[str, Any] = _summary(everything)
    latency.update({op: _summary(values) for op, values in tally.latency_ms.items()})
    probes = sum(sum(outcome.values()) for outcome in tally.probes.values())
    sent = tally.sent
    payload: dict[str, Any] = {
        "requests": sent,
        "authenticated_requests": sent - probes,
        "probe_requests": probes,
        "errors": tally.errors,
        "errors_by_status": dict(sorted(tally.errors_by_status.items())),
        "latency_ms": latency,
        "requests_per_s": round(sent / tally.wall_s, 1) if tally.wall_s else None,
        "wall_s": round(tally.wall_s, 3),
        "cross_tenant_leaks": tally.leaks,
        "leak_examples": tally.leak_examples,
        "unauthenticated_accepted": tally.unauthenticated_accepted,
        "probes": tally.probes,
        "writes_acknowledged": {t: len(ids) for t, ids in tally.acknowledged.items()},
        **extra,
        "settings": asdict(settings),
    }
    payload["targets"] = serve_targets(payload)
    return payload


def run_serve_bench(
    settings: ServeBenchSettings, *, data_dir: Path | None = None, progress: Progress | None = None
) -> ServeBenchResult:
    """Preload, start ``hive serve``, run the load, stop; return the result.

    Args:
        settings: What to run.
        data_dir: Data directory to build and keep (must be empty or absent);
            default a temporary one, removed afterwards.
        progress: Called with (stage, done, total).

    Raises:
        HiveDataError: a bad setting, or ``data_dir`` holds files already.
        HiveRuntimeError: the server did not start or the warm-up failed.
    """
    settings.check()
    note = progress or (lambda _stage, _done, _total: None)
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as cleanup:
        if data_dir is None:
            root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="hive-bench-serve-")))
            data_dir = root / "data"
        elif data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
            raise HiveDataError(f"--data-dir {data_dir} is not an empty directory; pass a new or empty one",
                                path=str(data_dir))
        data_dir.mkdir(parents=True, exist_ok=True)
        preload_s = preload_memories(data_dir, settings.memories, seed=settings.seed, progress=note)
        creds = create_keys(data_dir)
        server = ServeProcess(data_dir, data_dir / "server" / "serve.log")
        note("start", 0, 1)
        started = time.perf_counter()
        with server:
            probe_path = server.wait_ready()
            ready_s = time.perf_counter() - started
            note("start", 1, 1)
            warmup = _warm_up(server.base_url, creds)
            plan = plan_requests(settings.requests, preloaded=settings.memories, probe_share=settings.probe_share,
                                 add_share=settings.add_share, seed=settings.seed)
            tally = asyncio.run(run_plan(server.base_url, plan, creds, concurrency=settings.concurrency,
                                         progress=lambda done, total: note("load", done, total)))
        extra = {
            "memories_preloaded": settings.memories,
            "preload_s": round(preload_s, 2),
            "server_ready_s": round(ready_s, 2),
            "probe_path": probe_path,
            "warmup_requests": warmup,
            "backends": _backends(_config(data_dir)),
            "machine": _machine(load_before),
        }
        return ServeBenchResult(_payload(tally, settings, extra), latency_ms=tally.latency_ms)

