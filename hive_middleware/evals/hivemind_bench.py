"""``hive bench hivemind``: many agent processes on the shared back-ends, with failures, against the embedded default.

Shared run: PostgreSQL (graph), a Chroma server (vectors) and Redis (channels,
registry, limits) — started here in a temporary directory as the tests start
them, or the servers whose URLs are given. The memory is seeded with
``memories`` findings over two tenants, then ``agents`` agent processes (half
per tenant, the same agent names in both) write, search and listen on their
tenant's channel for ``duration_s``. A third of the way in one agent process is
killed with SIGKILL and started again; half way Redis is stopped and started
again. Afterwards every acknowledged write is looked up (``memories_lost``),
every acknowledged publish is looked for in its channel's feed, and the agents'
tallies are merged. Then ``limiter_rate_error`` (processes sharing one request
limit through Redis) and ``half_open_probes`` (processes hitting one half-open
breaker) are measured.

Embedded run: the same workload, seeded the same way, as threads in one process
on the embedded SQLite + Chroma directory, with in-process channels, limits and
breakers.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_middleware.errors import HiveDataError
from hive_middleware.evals.hivemind_agent import CHANNEL, AgentSpec, AgentTally, finding, run_agent
from hive_middleware.stats import percentile

__all__ = ["HivemindBenchSettings", "run_hivemind_bench"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class HivemindBenchSettings:
    """What ``hive bench hivemind`` runs.

    Attributes:
        agents: Agent processes (at least 2; half per tenant).
        duration_s: How long the agents work.
        memories: Findings seeded before the agents start (over both tenants).
        think_s: Mean pause of an agent between steps.
        embedder: Embedder of both runs.
        postgres: A PostgreSQL URL to use instead of starting one.
        redis: A Redis URL to use instead of starting one.
        chroma: A Chroma server URL to use instead of starting one.
        limiter_processes: Processes sharing one limit in the limiter check.
        embedded: Also run the embedded default for comparison.
        seed: Seed of every random choice.
    """

    agents: int = 8
    duration_s: float = 60.0
    memories: int = 10_000
    think_s: float = 0.5
    embedder: str = "minilm"
    postgres: str | None = None
    redis: str | None = None
    chroma: str | None = None
    limiter_processes: int = 8
    embedded: bool = True
    seed: int = 7


TENANTS = ("acme", "globex")


def _summary(values: list[float], *qs: int) -> dict[str, float | None]:
    return {f"p{q}": (round(percentile(values, q), 3) if values else None) for q in qs}


def _seed_memories(stack: Any, count: int, seed: int, progress: Progress) -> float:
    """Write ``count`` findings over both tenants in batches, then wait until every one is embedded."""
    rng = random.Random(seed)
    started = time.perf_counter()
    batch = 500
    for start in range(0, count, batch):
        drafts = []
        for i in range(start, min(count, start + batch)):
            tenant = TENANTS[i % len(TENANTS)]
            author = f"agent-{i % 4}"
            drafts.append({"content": finding(tenant, author, i, rng), "namespace": (tenant, author, "seed"),
                           "metadata": {"author": author}})
        stack.memory.remember_many(drafts)
        progress(f"seeded {min(count, start + batch)}/{count}")
    while not stack.memory.wait_indexed(timeout=30):
        progress(f"embedding seeded memories ({stack.memory.graph.outbox_pending()} left)")
    return time.perf_counter() - started


def _merge(tallies: list[AgentTally | dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"steps": 0, "remember_ms": [], "publish_ms": [], "search_ms": [], "delivery_ms": [],
                              "received": 0, "leaks": {"search": 0, "channel": 0, "registry": 0}, "errors": {}}
    for tally in tallies:
        data = tally.to_dict() if isinstance(tally, AgentTally) else tally
        merged["steps"] += data["steps"]
        merged["received"] += data["received"]
        for key in ("remember_ms", "publish_ms", "search_ms", "delivery_ms"):
            merged[key] += data[key]
        for key, n in data["leaks"].items():
            merged["leaks"][key] += n
        for key, n in data["errors"].items():
            merged["errors"][key] = merged["errors"].get(key, 0) + n
    return merged


def _read_acks(paths: list[Path]) -> list[dict[str, Any]]:
    acks: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            # A process killed mid-line leaves a partial last line: that write was never acknowledged.
            with contextlib.suppress(ValueError):
                acks.append(json.loads(line))
    return acks


def _verify(stack: Any, acks: list[dict[str, Any]]) -> dict[str, int]:
    """Look up every acknowledged write and publish in the shared back-ends."""
    remembered = [a for a in acks if a["op"] == "remember"]
    published = [a for a in acks if a["op"] == "publish"]
    lost = 0
    for tenant in TENANTS:
        ids = [a["id"] for a in remembered if a["tenant"] == tenant]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found = stack.memory.graph.get(tenant, chunk)
            lost += sum(1 for record_id in chunk if record_id not in found)
    missing_events = 0
    duplicate_events = 0
    leaked_events = 0
    for tenant in TENANTS:
        channels = stack.channels.for_tenant(tenant)
        seen: dict[str, int] = {}
        after: str | None = None
        while True:
            page = channels.feed(CHANNEL, after=after, limit=1000)
            if not page:
                break
            for event in page:
                if event.tenant != tenant:
                    leaked_events += 1
                if event.record_id is not None:
                    seen[event.record_id] = seen.get(event.record_id, 0) + 1
            after = page[-1].cursor
        duplicate_events += sum(n - 1 for n in seen.values() if n > 1)
        missing_events += sum(1 for a in published if a["tenant"] == tenant and a["id"] not in seen)
    return {"acknowledged_writes": len(remembered), "memories_lost": lost,
            "acknowledged_publishes": len(published), "channel_events_lost": missing_events,
            "channel_duplicates": duplicate_events, "feed_cross_tenant": leaked_events}


def _figures(merged: dict[str, Any], verified: dict[str, int], duration_s: float) -> dict[str, Any]:
    leaks = merged["leaks"]
    return {
        "memories_written": verified["acknowledged_writes"],
        "memories_lost": verified["memories_lost"],
        "cross_tenant_leaks": leaks["search"] + leaks["channel"] + leaks["registry"] + verified["feed_cross_tenant"],
        "leaks_by_surface": {**leaks, "feed": verified["feed_cross_tenant"]},
        "channel_delivery_ms": _summary(merged["delivery_ms"], 50, 95),
        "channel_events_delivered": len(merged["delivery_ms"]),
        "channel_events_lost": verified["channel_events_lost"],
        "channel_duplicates": verified["channel_duplicates"],
        "search_ms": _summary(merged["search_ms"], 50, 95),
        "remember_ms": _summary(merged["remember_ms"], 50, 99),
        "publish_ms": _summary(merged["publish_ms"], 50, 99),
        "steps": merged["steps"],
        "steps_per_s": round(merged["steps"] / duration_s, 2) if duration_s > 0 else None,
        "errors": merged["errors"],
    }


@contextlib.contextmanager
def _servers(settings: HivemindBenchSettings, workdir: Path, progress: Progress) -> Iterator[dict[str, Any]]:
    from hive_middleware.testing.servers import start_chroma, start_postgres, start_redis

    with contextlib.ExitStack() as stack:
        found: dict[str, Any] = {}
        if settings.postgres is None:
            progress("starting PostgreSQL")
            pg = stack.enter_context(start_postgres(workdir / "postgres"))
            found["postgres"] = pg.url
        else:
            found["postgres"] = settings.postgres
        if settings.redis is None:
            progress("starting Redis")
            redis_server = stack.enter_context(start_redis(workdir / "redis"))
            found["redis"], found["redis_server"] = redis_server.url, redis_server
        else:
            found["redis"], found["redis_server"] = settings.redis, None
        if settings.chroma is None:
            progress("starting the Chroma server")
            chroma = stack.enter_context(start_chroma(workdir / "chroma"))
            found["chroma"] = chroma.url
        else:
            found["chroma"] = settings.chroma
        yield found


def _shared_config(urls: dict[str, Any], data_dir: Path, tenant: str, embedder: str) -> dict[str, Any]:
    return {"data_dir": str(data_dir), "tenant": tenant,
            "memory": {"graph": urls["postgres"], "vectors": urls["chroma"], "embedder": embedder},
            "shared": {"redis": urls["redis"], "retry_s": 0.5}}


def _spawn(spec: AgentSpec, config: dict[str, Any], workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    spec_path = workdir / f"{name}.spec.json"
    out = workdir / f"{name}.tally.json"
    ready = workdir / f"{name}.ready"
    spec_path.write_text(json.dumps({"agent": spec.__dict__, "config": config, "out": str(out), "ready": str(ready)}))
    log = (workdir / f"{name}.log").open("ab")
    env = dict(os.environ, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", LITELLM_LOCAL_MODEL_COST_MAP="True")
    proc = subprocess.Popen([sys.executable, "-m", "hive_middleware.evals.hivemind_agent", str(spec_path)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    return proc, out


def _agent_specs(settings: HivemindBenchSettings, workdir: Path, prefix: str = "") -> list[AgentSpec]:
    """The agents of a run: alternating tenants, the same agent names in each tenant."""
    specs = []
    for i in range(settings.agents):
        tenant = TENANTS[i % len(TENANTS)]
        name = f"agent-{i // len(TENANTS)}"
        specs.append(AgentSpec(tenant=tenant, agent=name, thread=f"run-{i}", duration_s=settings.duration_s,
                               think_s=settings.think_s,
                               ack_path=str(workdir / f"{prefix}{tenant}-{name}.acks.jsonl"),
                               seed=settings.seed * 1000 + i))
    return specs


def _wait_ready(paths: list[Path], procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise HiveDataError(f"an agent process exited with {dead[0].returncode} before it was ready; "
                                "see its log in the bench's work directory")
        if time.monotonic() > deadline:
            raise HiveDataError(f"agents not ready within {timeout:.0f} s")
        time.sleep(0.2)


def run_shared(settings: HivemindBenchSettings, workdir: Path, progress: Progress) -> dict[str, Any]:
    """The shared run: servers, seeding, agent processes, a kill and a Redis restart, verification."""
    from hive_middleware.config import HiveConfig
    from hive_middleware.stack import HiveStack

    with _servers(settings, workdir, progress) as urls:
        main_config = _shared_config(urls, workdir / "bench-main", TENANTS[0], settings.embedder)
        stack = HiveStack(config=HiveConfig.load(environ={}, **main_config))
        try:
            progress(f"seeding {settings.memories} memories on the shared back-ends")
            seed_s = _seed_memories(stack, settings.memories, settings.seed, progress)
            agents = [
                (spec, _shared_config(urls, workdir / f"data-{spec.tenant}-{spec.agent}", spec.tenant,
                                      settings.embedder))
                for spec in _agent_specs(settings, workdir)
            ]
            progress(f"starting {settings.agents} agent processes")
            running = [_spawn(spec, config, workdir, f"{spec.tenant}-{spec.agent}") for spec, config in agents]
            _wait_ready([workdir / f"{s.tenant}-{s.agent}.ready" for s, _ in agents], [p for p, _ in running], 300)
            started = time.monotonic()
            events: list[str] = []
            # One agent dies a third of the way in; a new process takes its place (same agent, new run).
            time.sleep(settings.duration_s / 3)
            victim, _ = running[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            events.append(f"killed agent process {agents[0][0].tenant}/{agents[0][0].agent} (SIGKILL) "
                          f"at {time.monotonic() - started:.1f} s")
            progress(events[-1])
            left = max(5.0, settings.duration_s - (time.monotonic() - started))
            respec = AgentSpec(**{**agents[0][0].__dict__, "thread": "run-restarted", "duration_s": left})
            restarted = _spawn(respec, agents[0][1], workdir, f"{respec.tenant}-{respec.agent}-restarted")
            # Redis goes away half way and comes back.
            time.sleep(max(0.0, settings.duration_s / 2 - (time.monotonic() - started)))
            redis_server = urls["redis_server"]
            if redis_server is not None:
                redis_server.stop()
                events.append(f"stopped Redis at {time.monotonic() - started:.1f} s")
                progress(events[-1])
                time.sleep(min(5.0, settings.duration_s / 10))
                redis_server.start()
                events.append(f"started Redis again at {time.monotonic() - started:.1f} s")
                progress(events[-1])
            else:
                events.append("Redis restart skipped: --redis names a server this bench did not start")
            for proc, _ in [*running[1:], restarted]:
                proc.wait(timeout=settings.duration_s + 600)
            elapsed = time.monotonic() - started
            tallies = [json.loads(out.read_text()) for _, out in [*running[1:], restarted] if out.exists()]
            crashed = sum(1 for proc, _ in [*running[1:], restarted] if proc.returncode != 0)
            progress("verifying every acknowledged write")
            # Queued shared writes drain when Redis is back; give the agents' flush a moment to land.
            acks = _read_acks([Path(spec.ack_path) for spec, _ in agents])
            verified = _verify(stack, acks)
            figures = _figures(_merge(tallies), verified, elapsed)
            figures.update({"agents": settings.agents, "processes": settings.agents + 1,
                            "seed_s": round(seed_s, 1), "events": events, "agent_processes_failed": crashed,
                            "killed_agent_acknowledged_writes": sum(
                                1 for a in _read_acks([Path(agents[0][0].ack_path)]) if a["op"] == "remember")})
        finally:
            stack.close()
        progress(f"limiter and breaker across {settings.limiter_processes} processes")
        figures.update(_shared_guard_figures(urls["redis"], settings.limiter_processes))
        figures["backends"] = {"graph": "postgres", "vectors": "chroma server", "shared": "redis"}
        return figures


def _shared_guard_figures(redis_url: str, processes: int) -> dict[str, Any]:
    from hive_middleware.resilience.shared_checks import measure_half_open_probes, measure_limiter_rate_error

    rate = measure_limiter_rate_error(redis_url, processes=processes)
    probes = measure_half_open_probes(redis_url, processes=processes)
    return {"limiter_rate_error": rate["limiter_rate_error"], "limiter": dict(rate),
            "half_open_probes": probes["half_open_probes"], "breaker": dict(probes)}


def _local_guard_figures(threads: int, seconds: float = 5.0, requests_per_minute: float = 6000.0) -> dict[str, Any]:
    """The same two figures for the embedded default: ``threads`` threads of one process, in-process stores."""
    from hive_middleware.errors import HiveCircuitOpen
    from hive_middleware.resilience.breaker import CircuitBreaker
    from hive_middleware.resilience.limiter import RateLimit, RateLimiter

    limit = RateLimit(requests=requests_per_minute, window_s=60.0, burst_s=1.0)
    assert limit.request_spec is not None
    limiter = RateLimiter(limit, max_wait_s=3600.0)
    start = time.time() + 0.2
    end = start + seconds
    counts = [0] * threads

    def take(i: int) -> None:
        time.sleep(max(0.0, start - time.time()))
        while True:
            slot = time.time() + limiter.reserve("bench", "local-check").wait
            if slot >= end:
                return
            counts[i] += 1
            time.sleep(max(0.0, slot - time.time()))

    workers = [threading.Thread(target=take, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    expected = limit.request_spec.capacity + limit.request_spec.refill_per_s * seconds
    breaker = CircuitBreaker("local-check", failure_threshold=1, failure_rate_threshold=None, cooldown_s=0.2,
                             probe_timeout_s=3600.0)
    breaker.record_failure(breaker.before_call())
    time.sleep(0.3)
    admitted = [0] * threads
    go = threading.Barrier(threads)

    def probe(i: int) -> None:
        go.wait()
        for _ in range(50):
            try:
                breaker.before_call()
                admitted[i] += 1
            except HiveCircuitOpen:
                pass

    probers = [threading.Thread(target=probe, args=(i,)) for i in range(threads)]
    for prober in probers:
        prober.start()
    for prober in probers:
        prober.join()
    total = sum(counts)
    return {"limiter_rate_error": total / expected - 1.0,
            "limiter": {"threads": threads, "seconds": seconds, "expected_allowance": expected,
                        "admitted_total": total},
            "half_open_probes": sum(admitted), "breaker": {"threads": threads, "attempts_per_thread": 50}}


class _TenantView:
    """One tenant's face of a shared in-process stack (its channels and registry)."""

    def __init__(self, stack: Any, tenant: str) -> None:
        self.memory = stack.memory
        self.channels = stack.channels.for_tenant(tenant)
        self.agents = stack.agents.for_tenant(tenant)


def run_embedded(settings: HivemindBenchSettings, workdir: Path, progress: Progress) -> dict[str, Any]:
    """The same workload as threads in one process on the embedded default."""
    from hive_middleware.config import HiveConfig
    from hive_middleware.stack import HiveStack

    config = HiveConfig.load(environ={}, data_dir=str(workdir / "embedded"), tenant=TENANTS[0],
                             memory={"embedder": settings.embedder})
    stack = HiveStack(config=config)
    try:
        progress(f"seeding {settings.memories} memories on the embedded default")
        seed_s = _seed_memories(stack, settings.memories, settings.seed, progress)
        stack.memory.search("warm up", k=1, namespace=(TENANTS[0],))
        specs = _agent_specs(settings, workdir, prefix="embedded-")
        tallies: list[AgentTally] = []
        lock = threading.Lock()

        def body(spec: AgentSpec) -> None:
            tally = run_agent(_TenantView(stack, spec.tenant), spec)
            with lock:
                tallies.append(tally)

        progress(f"running {settings.agents} agents as threads in one process")
        started = time.monotonic()
        threads = [threading.Thread(target=body, args=(spec,), daemon=True) for spec in specs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(settings.duration_s + 600)
        elapsed = time.monotonic() - started
        verified = _verify(stack, _read_acks([Path(spec.ack_path) for spec in specs]))
        figures = _figures(_merge(list(tallies)), verified, elapsed)
        figures.update({"agents": settings.agents, "processes": 1, "seed_s": round(seed_s, 1)})
    finally:
        stack.close()
    figures.update(_local_guard_figures(settings.limiter_processes))
    figures["backends"] = {"graph": "sqlite", "vectors": "embedded chroma", "shared": "in-process"}
    return figures


def run_hivemind_bench(settings: HivemindBenchSettings, *, progress: Progress | None = None,
                       workdir: Path | None = None) -> dict[str, Any]:
    """Run the shared and (if asked) embedded runs; return the ``bench_hivemind.json`` payload."""
    if settings.agents < 2:
        raise HiveDataError(f"--agents must be at least 2 (one per tenant), got {settings.agents}")
    if settings.duration_s < 10:
        raise HiveDataError(f"--duration must be at least 10 s, got {settings.duration_s}")
    say = progress or (lambda _msg: None)
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="hive-bench-hivemind-")))
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "shared").mkdir(exist_ok=True)
        payload: dict[str, Any] = run_shared(settings, workdir / "shared", say)
        if settings.embedded:
            (workdir / "embedded-run").mkdir(exist_ok=True)
            payload["embedded"] = run_embedded(settings, workdir / "embedded-run", say)
    payload["settings"] = {k: v for k, v in settings.__dict__.items() if k not in ("postgres", "redis", "chroma")}
    payload["targets"] = _targets(payload)
    return payload


def _targets(payload: dict[str, Any]) -> dict[str, bool | None]:
    delivery = payload.get("channel_delivery_ms", {}).get("p50")
    search = payload.get("search_ms", {}).get("p95")
    rate = payload.get("limiter_rate_error")
    return {
        "memories_lost == 0": payload.get("memories_lost") == 0,
        "cross_tenant_leaks == 0": payload.get("cross_tenant_leaks") == 0,
        "half_open_probes == 1": payload.get("half_open_probes") == 1,
        "|limiter_rate_error| <= 0.02": None if rate is None else abs(rate) <= 0.02,
        "channel_delivery_ms.p50 <= 50": None if delivery is None else delivery <= 50,
        "search_ms.p95 <= 50": None if search is None else search <= 50,
    }


def hivemind_markdown(payload: dict[str, Any]) -> str:
    """The human summary of ``bench_hivemind.json``."""
    from hive_middleware.markdown import markdown_table

    embedded = payload.get("embedded", {})

    def row(label: str, get: Callable[[dict[str, Any]], Any]) -> list[str]:
        def cell(source: dict[str, Any]) -> str:
            try:
                value = get(source)
            except (KeyError, TypeError):
                return "-"
            return "-" if value is None else str(value)

        return [label, cell(payload), cell(embedded)]

    rows = [
        row("agents / processes", lambda p: f"{p['agents']} / {p['processes']}"),
        row("memories written (acknowledged)", lambda p: p["memories_written"]),
        row("memories lost", lambda p: p["memories_lost"]),
        row("cross-tenant leaks", lambda p: p["cross_tenant_leaks"]),
        row("channel delivery ms p50 / p95",
            lambda p: f"{p['channel_delivery_ms']['p50']} / {p['channel_delivery_ms']['p95']}"),
        row("channel events lost / duplicated", lambda p: f"{p['channel_events_lost']} / {p['channel_duplicates']}"),
        row("search ms p50 / p95", lambda p: f"{p['search_ms']['p50']} / {p['search_ms']['p95']}"),
        row("remember ms p50 / p99", lambda p: f"{p['remember_ms']['p50']} / {p['remember_ms']['p99']}"),
        row("limiter rate error", lambda p: p["limiter_rate_error"]),
        row("half-open probes", lambda p: p["half_open_probes"]),
        row("agent steps / s", lambda p: p["steps_per_s"]),
        row("errors", lambda p: p["errors"] or 0),
    ]
    lines = ["# hive bench hivemind", "",
             markdown_table(["figure", "shared (Postgres + Chroma server + Redis)", "embedded (one process)"], rows),
             "", "## Events", ""]
    lines += [f"- {event}" for event in payload.get("events", [])]
    lines += ["", "## Targets", ""]
    lines += [f"- {name}: {'met' if ok else ('not met' if ok is False else 'not measured')}"
              for name, ok in payload.get("targets", {}).items()]
    return "\n".join(lines) + "\n"


def hivemind_plot(payload: dict[str, Any]) -> Callable[[Any], None]:
    """Latency percentiles of both runs, side by side."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        embedded = payload.get("embedded", {})
        labels = ["remember p50", "remember p99", "search p50", "search p95", "delivery p50", "delivery p95"]
        keys = [("remember_ms", "p50"), ("remember_ms", "p99"), ("search_ms", "p50"), ("search_ms", "p95"),
                ("channel_delivery_ms", "p50"), ("channel_delivery_ms", "p95")]

        def values(source: dict[str, Any]) -> list[float]:
            return [float((source.get(a) or {}).get(b) or 0.0) for a, b in keys]

        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], values(payload), width=0.4, label="shared (Postgres + Chroma + Redis)")
        ax.bar([x + 0.2 for x in xs], values(embedded), width=0.4, label="embedded (one process)")
        ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="50 ms target")
        ax.set_xticks(list(xs), labels, rotation=20)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.set_title(f"hive bench hivemind: {payload.get('agents')} agents, "
                     f"{payload.get('memories_written')} writes, {payload.get('memories_lost')} lost")
        ax.legend(fontsize=8)

    return draw

