"""``hive bench guard``: overhead, limiter accuracy, half-open probes, Retry-After."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hive_middleware.cli.app import bench_app


@bench_app.command("guard")
def bench_guard(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_guard.json, .md and .png.")],
    pairs: Annotated[
        int, typer.Option("--pairs", min=10, help="Interleaved bare/guarded call pairs for the overhead.")
    ] = 2000,
    window_s: Annotated[
        float, typer.Option("--window-s", min=0.5, help="Length of one limiter measurement window, s.")
    ] = 10.0,
    windows: Annotated[
        int, typer.Option("--windows", min=1, help="Limiter windows per driver (asyncio, threads).")
    ] = 2,
    rate: Annotated[
        float, typer.Option("--rate", min=1.0, help="Configured limiter rate, requests per second.")
    ] = 200.0,
    tasks: Annotated[
        int, typer.Option("--tasks", min=1, help="Concurrent callers hammering the limiter.")
    ] = 50,
    callers: Annotated[
        int, typer.Option("--callers", min=2, help="Concurrent callers hitting the half-open breaker.")
    ] = 100,
) -> None:
    """Measure the guard layer; writes OUT/bench_guard.json (+ .md, .png).

    Keys: overhead_ms {p50, p95} (percentile of guarded minus the same percentile
    of bare litellm mock calls, interleaved),
    limiter_rate_error (signed relative error of the granted rate, worst driver),
    half_open_probes (model calls admitted among concurrent callers, worst
    driver), retry_after_honoured (loopback 429 with Retry-After).
    """
    import os

    from hive_middleware.errors import HiveDataError

    if out.exists() and not out.is_dir():  # fail before a minute of measuring, not after
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from rich.console import Console
    from rich.progress import Progress

    from hive_middleware.evals import guard_bench as bench
    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table

    console = Console(stderr=True)
    load_before = os.getloadavg()[0]  # latency figures depend on how busy the machine is
    with Progress(console=console, transient=True) as progress:
        step = progress.add_task("overhead (bare vs guarded mock calls)", total=pairs)
        overhead = bench.measure_overhead(pairs=pairs, tick=lambda: progress.advance(step))
        step = progress.add_task(f"limiter rate ({tasks} asyncio tasks, {windows}x{window_s:g}s)", total=None)
        rate_async = bench.measure_limiter_rate(
            tasks=tasks, rate_per_s=rate, window_s=window_s, windows=windows
        )
        progress.update(step, description=f"limiter rate ({tasks} threads, {windows}x{window_s:g}s)")
        rate_threads = bench.measure_limiter_rate(
            tasks=tasks, rate_per_s=rate, window_s=window_s, windows=windows, threads=True
        )
        progress.update(step, description=f"half-open breaker ({callers} callers)")
        probes = bench.measure_half_open(callers=callers)
        progress.update(step, description="Retry-After against a loopback server")
        retry_after = bench.measure_retry_after()

    worst_rate = max((rate_async["error"], rate_threads["error"]), key=abs)
    payload: dict[str, Any] = {
        "overhead_ms": overhead["overhead_ms"],
        "limiter_rate_error": worst_rate,
        "half_open_probes": max(probes["threads"], probes["asyncio"]),
        "retry_after_honoured": retry_after["honoured"],
        "targets": {"overhead_p50_ms": 0.1, "abs_limiter_rate_error": 0.02, "half_open_probes": 1},
        "details": {
            "overhead": {k: v for k, v in overhead.items() if not k.endswith("_samples_ms")},
            "limiter": {"asyncio": rate_async, "threads": rate_threads},
            "half_open": probes,
            "retry_after": retry_after,
            "machine": {"cpu_count": os.cpu_count(), "loadavg_1m": [load_before, os.getloadavg()[0]]},
        },
    }
    rows = [
        ["overhead p50 (ms): guarded p50 - bare p50", overhead["overhead_ms"]["p50"], "<= 0.1"],
        ["overhead p95 (ms): guarded p95 - bare p95", overhead["overhead_ms"]["p95"], ""],
        ["overhead p50 (ms), block medians", overhead["block_median_overhead_ms"]["p50"], ""],
        ["overhead p50 (ms), single pairs", overhead["paired_overhead_ms"]["p50"], ""],
        ["guard alone p50 (ms, no-op model)", overhead["guard_only_ms"]["p50"], ""],
        ["bare mock call p50 (ms)", overhead["bare_ms"]["p50"], ""],
        ["limiter rate error, asyncio", rate_async["error"], "|x| <= 0.02"],
        ["limiter rate error, threads", rate_threads["error"], "|x| <= 0.02"],
        ["half-open probes, threads", probes["threads"], "== 1"],
        ["half-open probes, asyncio", probes["asyncio"], "== 1"],
        ["Retry-After honoured", str(retry_after["honoured"]), "true"],
        ["Retry-After gap (s)", retry_after["gap_s"], f">= {retry_after['retry_after_s']}"],
    ]
    markdown = (
        "# Guard benchmark\n\n"
        f"{pairs} interleaved bare/guarded `litellm.completion(mock_response=...)` pairs (block medians: "
        f"{overhead['blocks']} blocks of {overhead['block_pairs']} pairs); limiter at "
        f"{rate:g} req/s with {tasks} concurrent callers over {windows} x {window_s:g} s windows on the real "
        f"clock; {callers} callers on a half-open breaker; a loopback server answering 429 + Retry-After.\n\n"
        + markdown_table(["measure", "value", "target"], rows)
    )

    def plot(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        for name in ("bare", "guarded"):
            values = sorted(overhead[f"{name}_samples_ms"])
            ax.plot(values, [i / len(values) for i in range(len(values))], label=name)
        ax.set_xlim(
            0, sorted(overhead["guarded_samples_ms"])[int(0.99 * len(overhead["guarded_samples_ms"]))]
        )
        ax.set_xlabel("latency of one mock completion (ms)")
        ax.set_ylabel("fraction of calls")
        ax.set_title("litellm mock call, bare vs guarded")
        ax.legend()

    paths = write_report(out, "bench_guard", payload, markdown, plot)
    console.print(markdown, highlight=False)
    console.print(f"wrote {paths['json']}", highlight=False)
