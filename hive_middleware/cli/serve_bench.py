"""``hive bench serve``: the Hive HTTP service under load over loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hive_middleware.cli.app import bench_app


@bench_app.command("serve")
def bench_serve(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_serve.json, .md and .png.")],
    requests: Annotated[
        int, typer.Option("--requests", min=1, help="Requests sent under load (probes included).")
    ] = 5_000,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight.")] = 50,
    memories: Annotated[
        int, typer.Option("--memories", min=0, help="Memories preloaded (both tenants) before the server starts.")
    ] = 10_000,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Build and keep the server's data here (new or empty; default: a temp dir)."),
    ] = None,
) -> None:
    """Load-test `hive serve` over loopback; writes OUT/bench_serve.json, .md and .png.

    Preloads --memories memories over two tenants (embedded default back-ends),
    creates keys, starts `hive serve` on a free loopback port, then sends
    --requests requests with --concurrency in flight: writes and searches of both
    tenants, searches for the other tenant's marker words (cross_tenant_leaks),
    and probes with no key, a malformed key, a revoked key and a read-only key
    writing (unauthenticated_accepted). Keys: requests, errors, latency_ms {p50,
    p95, p99, add, search}, cross_tenant_leaks, unauthenticated_accepted,
    settings, machine, targets.
    """
    import os

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from hive_middleware.errors import HiveDataError
    from hive_middleware.evals.report import write_report
    from hive_middleware.evals.serve_bench import ServeBenchSettings, run_serve_bench
    from hive_middleware.evals.serve_report import serve_markdown, serve_plot

    if out.exists() and not out.is_dir():
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    console = Console(stderr=True)
    settings = ServeBenchSettings(requests=requests, concurrency=concurrency, memories=memories)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"serve: {stage}", total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = run_serve_bench(settings, data_dir=data_dir, progress=note)
    payload = result.payload
    written = write_report(out, "bench_serve", payload, serve_markdown(payload), serve_plot(payload, result.latency_ms))
    console.print(serve_markdown(payload))
    console.print(f"wrote {written['json']}")
