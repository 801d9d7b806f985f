"""``hive bench memory`` (write latency, batched writes, exact-key recall and search latency) and
the ``hive memory`` group (``hive memory migrate``: move an embedded store to shared back-ends)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hive_middleware.cli.app import app, bench_app

memory_app = typer.Typer(help="Manage memory stores (move an embedded store to shared back-ends).", no_args_is_help=True)
app.add_typer(memory_app, name="memory")


@bench_app.command("memory")
def bench_memory(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_memory.json, .md and .png.")],
    memories: Annotated[int, typer.Option("--memories", min=100, help="Records in the store for recall and search.")] = 10_000,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Repeated runs; medians are reported.")] = 3,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per remember_many() call.")] = 1_000,
    samples: Annotated[int, typer.Option("--samples", min=10, help="Single remember() calls timed per run.")] = 1_000,
    queries: Annotated[int, typer.Option("--queries", min=10, help="Searches timed per run.")] = 200,
    embedder: Annotated[
        str,
        typer.Option(
            "--embedder",
            help="'minilm' (packaged model), 'minilm-int8' (same model, int8-quantised: about half the search "
            "latency) or 'hashing' (no model; tests).",
        ),
    ] = "minilm",
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where the temporary stores live (default: system temp).")
    ] = None,
) -> None:
    """Measure the memory engine on the embedded defaults; writes OUT/bench_memory.json (+ .md, .png).

    Keys: remember_ms {p50,p95,p99} (durable ack, worker running),
    remember_many_per_s, remember_many_keyed_per_s, recall_per_s (warm exact-key), recall_cold_per_s,
    search_ms {p50,p95,p99} at --memories records, index_records_per_s.
    """
    from hive_middleware.errors import HiveDataError

    if out.exists() and not out.is_dir():
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from hive_middleware.config import HiveConfig
    from hive_middleware.evals.memory_bench import run_memory_bench
    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table

    config = HiveConfig.load(memory={"embedder": embedder})
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        payload: dict[str, Any] = run_memory_bench(
            config=config,
            memories=memories,
            repeats=repeats,
            batch=batch,
            latency_samples=samples,
            queries=queries,
            workdir=workdir,
            progress=note,
        )
    targets = payload["targets"]
    rows = [
        ["search p95 (ms)", payload["search_ms"]["p95"], f"<= {targets['search_p95_ms']:g}"],
        ["remember p99 (ms)", payload["remember_ms"]["p99"], f"<= {targets['remember_p99_ms']:g}"],
        ["exact-key recall (/s)", payload["recall_per_s"], f">= {targets['recall_per_s']:g}"],
        ["remember_many (/s)", payload["remember_many_per_s"], f">= {targets['remember_many_per_s']:g}"],
        ["remember_many keyed (/s)", payload["remember_many_keyed_per_s"], ""],
        ["search p50 (ms)", payload["search_ms"]["p50"], ""],
        ["remember p50 (ms)", payload["remember_ms"]["p50"], ""],
        ["cold recall (/s)", payload["recall_cold_per_s"], ""],
        ["embedding (records/s)", payload["index_records_per_s"] or float("nan"), ""],
    ]
    markdown = (
        f"# hive bench memory\n\n{memories} memories, {repeats} runs (medians), embedder {embedder}, "
        f"SQLite synchronous={payload['sqlite_synchronous']}.\n\n"
        + markdown_table(["measure", "value", "target"], rows)
    )

    def plot(fig: Any) -> None:
        ax = fig.add_subplot(1, 2, 1)
        ax.bar(["remember p50", "remember p99", "search p50", "search p95"],
               [payload["remember_ms"]["p50"], payload["remember_ms"]["p99"],
                payload["search_ms"]["p50"], payload["search_ms"]["p95"]])
        ax.set_ylabel("ms")
        ax.set_title("latency")
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.bar(["recall", "remember_many"], [payload["recall_per_s"], payload["remember_many_per_s"]])
        ax2.set_yscale("log")
        ax2.set_title("throughput (/s)")

    paths = write_report(out, "bench_memory", payload, markdown, plot)
    console.print(markdown)
    console.print(f"wrote {paths['json']}")


@memory_app.command("migrate")
def memory_migrate(
    to: Annotated[
        str,
        typer.Option("--to", help="Target graph store: 'sqlite:///abs/dir' or 'postgres://user:pw@host:port/db'."),
    ],
    vectors: Annotated[
        str | None,
        typer.Option(
            "--vectors",
            help="Target Chroma server 'http://host:port' (default: the embedded Chroma directory beside a "
            "SQLite target; for Postgres, records stay queued for the first process with a vector index).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Source data directory (default: data_dir from the config).")
    ] = None,
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Copy only this tenant (repeat for several; default: all).")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", help="Embedder for the target's vectors (default: memory.embedder from the config)."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per target transaction.")] = 500,
) -> None:
    """Copy an embedded store (every record version, edge, validity and record time) to other back-ends.

    Ids are kept and records already in the target are skipped: running it again copies nothing new.

    Copied records are embedded into the target vector index.

    A verification pass compares every record and edge per tenant; exit status 1 when it fails.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from hive_middleware.config import HiveConfig
    from hive_middleware.memory.migrate import migrate_memory

    config = HiveConfig.load(memory={"embedder": embedder}) if embedder else HiveConfig.load()
    source = data_dir if data_dir is not None else Path(config.data_dir)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = migrate_memory(
            source,
            to=to,
            vectors=vectors,
            tenants=tenant or None,
            config=config.memory,
            batch=batch,
            progress=note,
        )
    table = Table(title=f"{summary.source} -> {summary.target}")
    for column in ("tenant", "records", "copied", "updated", "target records", "edges", "copied edges", "verified"):
        table.add_column(column, justify="left" if column == "tenant" else "right")
    for row in summary.tenants:
        table.add_row(
            row.tenant, str(row.records), str(row.copied_records), str(row.updated), str(row.target_records),
            str(row.edges), str(row.copied_edges), "yes" if row.verified else "NO",
        )  # fmt: skip
    out = Console(soft_wrap=True)
    out.print(table)
    out.print(
        f"{summary.records} records, {summary.edges} edges, {len(summary.tenants)} tenants; copied "
        f"{summary.copied_records} records and {summary.copied_edges} edges; embedded {summary.embedded}"
        + (f" into {summary.vectors}" if summary.vectors else "")
    )
    for line in summary.notes:
        out.print(line)
    if not summary.verified:
        failed = [t.tenant for t in summary.tenants if not t.verified]
        console.print(f"verification failed for tenants {failed}: the target differs from the source")
        raise typer.Exit(1)
    out.print("verified: every record and edge of every tenant is in the target")
