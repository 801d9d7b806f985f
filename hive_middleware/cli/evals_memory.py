"""``hive eval locomo`` and ``hive eval long-horizon``: memory retrieval against baselines."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from hive_middleware.cli.app import eval_app
from hive_middleware.errors import HiveUsageError, HiveValidationError

if TYPE_CHECKING:
    from hive_middleware.evals.retrievers import Retriever

_BASELINES = ("bm25", "vector")
_THREADS_OPTION = typer.Option(
    "--torch-threads",
    help="Torch CPU threads for embedding models (process-wide). 1 keeps single-query latency low and "
    "steady on a busy machine; 0 leaves torch's default.",
    min=0,
)
_ENGINE_OPTION = typer.Option(
    "--engine/--no-engine",
    help="Also evaluate the memory engine when hive_middleware.evals.engine_retriever exists (the default).",
)


def _parse_baselines(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise HiveValidationError(
            f"--baselines: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}", field="baselines"
        )
    return names


def _make_baseline(name: str) -> Retriever:
    from hive_middleware.evals.retrievers import BM25Retriever, VectorRetriever

    return BM25Retriever() if name == "bm25" else VectorRetriever()


@contextmanager
def _retrievers(
    baseline_names: list[str], use_engine: bool
) -> Iterator[tuple[Retriever | None, dict[str, Retriever]]]:
    """Build the baselines and (if present and wanted) the engine; close all and remove the engine's workdir."""
    from hive_middleware.evals.locomo_eval import load_engine_factory

    with ExitStack() as stack:
        baselines: dict[str, Retriever] = {}
        for name in baseline_names:
            retriever = _make_baseline(name)
            stack.callback(retriever.close)
            baselines[name] = retriever
        engine: Retriever | None = None
        factory = load_engine_factory() if use_engine else None
        if factory is not None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hive-eval-engine-")))
            engine = factory(workdir)
            stack.callback(engine.close)
        yield engine, baselines


def _ablations(engine: Retriever | None, spec: str) -> list[Retriever]:
    """The engine variants ``--ablate`` asks for (``"author,date,author+date"``)."""
    groups = [tuple(s.strip() for s in part.split("+")) for part in spec.split(",") if part.strip()]
    if not groups:
        return []
    without = getattr(engine, "without", None)
    if engine is None or not callable(without):
        raise HiveUsageError("--ablate needs the memory engine (drop --no-engine)")
    return [without(*group) for group in groups]


def _limit_torch_threads(threads: int, baseline_names: list[str], use_engine: bool) -> None:
    """Apply --torch-threads when a model will run (the vector baseline or the engine's embedder)."""
    if threads < 1 or not ("vector" in baseline_names or use_engine):
        return
    from hive_middleware.evals.locomo_eval import load_engine_factory

    if "vector" not in baseline_names and load_engine_factory() is None:
        return  # BM25 only: don't pay torch's import for nothing
    import torch

    torch.set_num_threads(threads)


@contextmanager
def _progress_bar(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def update(method: str, done: int, total: int) -> None:
            if method not in tasks:
                tasks[method] = progress.add_task(method, total=total)
            progress.update(tasks[method], completed=done)

        yield update


@eval_app.command("locomo")
def locomo_command(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="LoCoMo JSON file (a list of samples); repeat --data for several files."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for locomo.json, locomo.md and locomo.png.")],
    k: Annotated[str, typer.Option("--k", help="Comma-separated recall cut-offs, e.g. 5,10,25.")] = "5,10,25",
    baselines: Annotated[
        str,
        typer.Option(
            "--baselines",
            help="Comma-separated baselines run beside the engine: bm25 (SQLite FTS5), "
            "vector (all-MiniLM-L6-v2, exact cosine).",
        ),
    ] = "bm25,vector",
    engine: Annotated[bool, _ENGINE_OPTION] = True,
    torch_threads: Annotated[int, _THREADS_OPTION] = 1,
    ablate: Annotated[
        str,
        typer.Option(
            "--ablate",
            help="Comma-separated engine variants searched on the same ingested store with signals switched off, "
            "'+' joining signals of one variant (vector, bm25, graph, recency, author, date), e.g. "
            "'author,date,author+date'. Reported as extra rows.",
        ),
    ] = "",
) -> None:
    """Evidence recall@k on LoCoMo (per category; adversarial apart) and search latency.

    Each conversation is its own namespace; turns are ingested with their session date-time as valid
    time. Writes OUT/locomo.json with the keys of DESIGN §3.
    """
    from hive_middleware.cli.evals_traj import print_warning
    from hive_middleware.evals.locomo_eval import locomo_markdown, parse_ks, plot_locomo, run_locomo_eval
    from hive_middleware.evals.report import write_report
    from hive_middleware.skipped import SkippedRecords

    console = Console()
    ks = parse_ks(k)
    seconds: dict[str, float] = {}
    names = _parse_baselines(baselines, _BASELINES)
    start = time.perf_counter()
    _limit_torch_threads(torch_threads, names, engine)
    with (
        _retrievers(names, engine) as (engine_retriever, baseline_retrievers),
        _progress_bar(console) as progress,
    ):
        payload = run_locomo_eval(
            data,
            ks,
            engine_retriever,
            baseline_retrievers,
            on_progress=progress,
            method_seconds=seconds,
            ablations=_ablations(engine_retriever, ablate),
            skips=SkippedRecords(print_warning),
        )
    wall_s = time.perf_counter() - start
    written = write_report(
        out,
        "locomo",
        payload,
        locomo_markdown(payload, data=data, wall_s=wall_s, method_seconds=seconds),
        plot_locomo(payload),
    )
    console.print(
        locomo_markdown(payload, wall_s=wall_s, method_seconds=seconds),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"wrote {', '.join(str(p) for p in written.values())}", highlight=False)


@eval_app.command("long-horizon")
def long_horizon_command(
    dialogue: Annotated[
        Path, typer.Option("--dialogue", help="Dialogue JSON: a list of {turn, block, content, facts}.")
    ],
    questions: Annotated[
        Path,
        typer.Option(
            "--questions",
            help="Questions JSON: a list of {question_id, text, expected_answer, category, rubric}.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for long_horizon.json, .md and .png.")],
    baselines: Annotated[
        str,
        typer.Option(
            "--baselines", help="Comma-separated baselines: bm25 (SQLite FTS5), vector (all-MiniLM-L6-v2)."
        ),
    ] = "bm25",
    engine: Annotated[bool, _ENGINE_OPTION] = True,
    torch_threads: Annotated[int, _THREADS_OPTION] = 1,
) -> None:
    """Hit rate (all required keywords in the top 10) and current_first (in the top 3) on a long dialogue.

    Only turn contents are ingested, never the facts field. Writes OUT/long_horizon.json with the keys of
    DESIGN §3.
    """
    from hive_middleware.cli.evals_traj import print_warning
    from hive_middleware.evals.long_horizon import read_long_horizon_questions
    from hive_middleware.evals.long_horizon_eval import (
        long_horizon_markdown,
        plot_long_horizon,
        run_long_horizon_eval,
    )
    from hive_middleware.evals.report import write_report
    from hive_middleware.skipped import SkippedRecords

    console = Console()
    names = _parse_baselines(baselines, _BASELINES)
    start = time.perf_counter()
    _limit_torch_threads(torch_threads, names, engine)
    with (
        _retrievers(names, engine) as (engine_retriever, baseline_retrievers),
        _progress_bar(console) as progress,
    ):
        payload = run_long_horizon_eval(
            dialogue, questions, engine_retriever, baseline_retrievers, on_progress=progress,
            skips=SkippedRecords(print_warning),
        )
    wall_s = time.perf_counter() - start
    quiet = SkippedRecords(lambda _line: None)  # already warned about while evaluating
    markdown = long_horizon_markdown(payload, read_long_horizon_questions(questions, skips=quiet), wall_s=wall_s)
    written = write_report(out, "long_horizon", payload, markdown, plot_long_horizon(payload))
    console.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {', '.join(str(p) for p in written.values())}", highlight=False)
