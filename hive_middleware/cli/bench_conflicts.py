"""``hive bench conflicts``: what write-time conflict resolution costs and what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hive_middleware.cli.app import bench_app


@bench_app.command("conflicts")
def bench_conflicts(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_conflicts.json and .md.")],
    records: Annotated[
        int, typer.Option("--records", min=100, help="Memories already in the store when latency is measured.")
    ] = 10_000,
    writes: Annotated[int, typer.Option("--writes", min=10, help="remember() calls timed per kind and repeat.")] = 300,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Repeated runs; figures are medians.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic memories.")] = 0,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="LoCoMo JSON file: use its turns as the notes instead of synthetic ones."),
    ] = None,
) -> None:
    """Measure conflict resolution; writes OUT/bench_conflicts.json (+ .md).

    Keys: decide_us (one decision against 5 candidates), remember_ms {episodic,
    semantic, semantic_unresolved} x {p50, p95, p99}, remember_many_per_s
    {resolved, unresolved} (semantic drafts), stream (a fact stream with repeats
    and changes: current_records, confirmations, supersessions).
    """
    from rich.console import Console

    from hive_middleware.errors import HiveDataError

    if out.exists() and not out.is_dir():
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    from rich.progress import Progress

    from hive_middleware.evals.conflict_bench import run_conflict_bench
    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table

    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("conflict bench", total=repeats + 1)

        def note(label: str) -> None:
            progress.update(task, description=label)
            progress.advance(task)

        texts = None
        if data is not None:
            from hive_middleware.evals.locomo import read_locomo

            texts = [t.text for conv in read_locomo(data) for t in conv.turns]
        payload = run_conflict_bench(
            records=records, writes=writes, repeats=repeats, seed=seed, texts=texts, progress=note
        )
    rows = [[name, v["p50"], v["p95"], v["p99"]] for name, v in payload["remember_ms"].items()]
    stream = payload["stream"]
    markdown = (
        f"# bench conflicts\n\n`remember` latency (ms) with {records} memories stored, median of {repeats} runs:\n\n"
        + markdown_table(["kind", "p50", "p95", "p99"], rows)
        + f"\ndecide(): {payload['decide_us']:.1f} us against {payload['decide_candidates']} candidates.\n\n"
        + markdown_table(
            ["remember_many (semantic)", "records/s"],
            [[k, round(v)] for k, v in payload["remember_many_per_s"].items()],
        )
        + "\nFact stream:\n\n"
        + markdown_table(list(stream), [list(stream.values())])
    )
    paths = write_report(out, "bench_conflicts", payload, markdown)
    console.print(markdown)
    console.print(f"wrote {paths['json']}")
