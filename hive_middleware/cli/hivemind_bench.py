"""``hive bench hivemind``: agent processes sharing Postgres, a Chroma server and Redis, with failures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hive_middleware.cli.app import bench_app


@bench_app.command("hivemind")
def bench_hivemind(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_hivemind.json, .md and .png.")],
    agents: Annotated[int, typer.Option("--agents", min=2, help="Agent processes (half per tenant).")] = 8,
    duration: Annotated[
        float, typer.Option("--duration", min=10.0, help="Seconds the agents work (after seeding).")
    ] = 60.0,
    memories: Annotated[
        int, typer.Option("--memories", min=0, help="Memories seeded before the agents start.")
    ] = 10_000,
    think: Annotated[
        float, typer.Option("--think", min=0.0, help="Mean pause of an agent between steps, s (its LLM's time).")
    ] = 0.5,
    embedder: Annotated[
        str, typer.Option("--embedder", help="Embedder of both runs: minilm, minilm-int8 or hashing.")
    ] = "minilm",
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="PostgreSQL URL to use instead of starting one.")
    ] = None,
    redis: Annotated[str | None, typer.Option("--redis", help="Redis URL to use instead of starting one.")] = None,
    chroma: Annotated[
        str | None, typer.Option("--chroma", help="Chroma server URL to use instead of starting one.")
    ] = None,
    embedded: Annotated[
        bool, typer.Option("--embedded/--no-embedded", help="Also run the embedded default for comparison.")
    ] = True,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Keep servers' data, agent logs and ack files here.")
    ] = None,
) -> None:
    """Many agents, one memory: measure the shared back-ends under failures; writes OUT/bench_hivemind.json.

    Starts PostgreSQL, Redis and a Chroma server on loopback in a temporary
    directory (the Debian postgresql and redis-server packages, `chroma run`) unless
    their URLs are given, seeds --memories findings over two tenants, then runs
    --agents agent processes that remember, publish to their tenant's channel,
    search and listen for --duration seconds. One agent process is killed with
    SIGKILL a third of the way in (and started again); Redis is stopped and
    started half way. Keys: agents, processes, memories_written, memories_lost
    (acknowledged but not found afterwards), cross_tenant_leaks,
    channel_delivery_ms {p50, p95}, search_ms {p50, p95}, remember_ms {p50, p99},
    limiter_rate_error, half_open_probes, and "embedded": the same figures for
    the embedded default in one process.
    """
    import os

    from rich.console import Console

    from hive_middleware.errors import HiveDataError
    from hive_middleware.evals.hivemind_bench import (
        HivemindBenchSettings,
        hivemind_markdown,
        hivemind_plot,
        run_hivemind_bench,
    )
    from hive_middleware.evals.report import write_report

    if out.exists() and not out.is_dir():
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    console = Console(stderr=True)
    settings = HivemindBenchSettings(agents=agents, duration_s=duration, memories=memories, think_s=think,
                                     embedder=embedder, postgres=postgres, redis=redis, chroma=chroma,
                                     limiter_processes=agents, embedded=embedded)
    with console.status("hive bench hivemind") as status:
        payload = run_hivemind_bench(settings, progress=lambda msg: status.update(f"hivemind: {msg}"),
                                     workdir=workdir)
    written = write_report(out, "bench_hivemind", payload, hivemind_markdown(payload), hivemind_plot(payload))
    console.print(hivemind_markdown(payload))
    console.print(f"wrote {written['json']}")
