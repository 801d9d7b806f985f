"""``hive bench compress``: classification throughput and per-list compression latency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hive_middleware.cli.app import bench_app

if TYPE_CHECKING:
    from hive_middleware.types import Message


@bench_app.command("compress")
def bench_compress(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_compress.json, .md and .png.")],
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            help="A folder of SWE-agent .traj files or one .traj file (repeatable): the messages to measure on "
            "(default: seeded synthetic transcripts).",
        ),
    ] = None,
    short_messages: Annotated[
        int, typer.Option("--short-messages", min=100, help="Distinct short messages classified per pass.")
    ] = 50_000,
    lists: Annotated[int, typer.Option("--lists", min=1, help="100-message lists to compress.")] = 10,
    size: Annotated[int, typer.Option("--size", min=2, help="Messages per compressed list.")] = 100,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed passes / warm calls per list.")] = 5,
    model: Annotated[
        str | None, typer.Option("--model", help="Model whose tokenizer counts tokens (default: config model).")
    ] = None,
) -> None:
    """Measure compression speed; writes OUT/bench_compress.json (+ .md, .png).

    Keys: classification {msgs_per_s, n_messages, mean_chars} over distinct
    messages cut to 200 characters (nothing cached); latency_ms {cold, agent_loop,
    warm} x {p50, p95, mean} for SIZE-message lists (cold: every cache cleared;
    agent_loop: the list grows one message per call as an agent re-sends it;
    warm: the same list again); token_counts_cached (per-message litellm counts
    are cached by content).
    """
    import os

    from hive_middleware.errors import HiveDataError

    if out.exists() and not out.is_dir():
        raise HiveDataError(f"--out {out} exists and is not a directory; pass a directory", path=str(out))
    from rich.console import Console
    from rich.progress import Progress

    from hive_middleware.config import HiveConfig
    from hive_middleware.evals import compress_bench as bench
    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table
    from hive_middleware.testing.transcripts import synthetic_transcript
    from hive_middleware.tokens import count_text_tokens
    from hive_middleware.trajectories import iter_trajectories
    from hive_middleware.types import Message

    model_name = model or HiveConfig.load().model
    count_text_tokens("load the tokenizer before timing", model_name)
    console = Console(stderr=True)
    short: list[Message] = []
    seen: set[str] = set()
    long_lists: list[list[Message]] = []

    def transcripts() -> Iterator[list[Message]]:
        if data:
            for traj in iter_trajectories(data):
                if traj.steps:
                    yield traj.steps[-1].messages
        else:
            for seed in range(max(lists, 1) * 20):
                yield synthetic_transcript(max(size, 200), seed=seed)

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("reading transcripts", total=None)
        for last in transcripts():
            progress.advance(task)
            if len(long_lists) < lists and len(last) >= size:
                long_lists.append(last[:size])
            for msg in last:
                content = msg.get("content")
                text = content if isinstance(content, str) else ""
                for start in range(0, min(len(text), 2_000), bench.SHORT_CHARS):
                    piece = text[start : start + bench.SHORT_CHARS]
                    if piece and piece not in seen and len(short) < short_messages:
                        seen.add(piece)
                        short.append(Message(role=msg["role"], content=piece))
            if len(short) >= short_messages and len(long_lists) >= lists:
                break
        if not long_lists:
            raise HiveDataError(f"no run in --data has a step with {size} messages; lower --size", field="data")
        progress.update(task, description="classifying short messages", total=None)
        classification = bench.classification_throughput(short, repeats=repeats)
        step = progress.add_task(f"compressing {size}-message lists", total=len(long_lists))
        latency = bench.list_latency(
            long_lists, size=size, model=model_name, repeats=repeats, tick=lambda: progress.advance(step)
        )

    payload: dict[str, Any] = {
        "classification": {k: v for k, v in classification.items() if k != "msgs_per_s_runs"},
        "latency_ms": {k: latency[k] for k in ("cold", "agent_loop", "warm")},
        "latency_cpu_ms": latency["cpu"],
        "load_avg_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "n_lists": latency["n_lists"],
        "list_size": size,
        "token_counts_cached": latency["token_counts_cached"],
        "model": model_name,
        "targets": {"classification_msgs_per_s": 200_000, "list_latency_p50_ms": 2.0},
        "data": [str(p) for p in data] if data else "synthetic (hive_middleware.testing.transcripts)",
    }
    rows = [
        ["classification (msgs/s)", classification["msgs_per_s"], ">= 200000"],
        ["classification (msgs per CPU-s)", classification["msgs_per_s_cpu"], ">= 200000"],
        [f"{size}-msg list, warm p50 (ms)", latency["warm"]["p50"], "<= 2"],
        [f"{size}-msg list, warm p50 (CPU ms)", latency["cpu"]["warm"]["p50"], "<= 2"],
        [f"{size}-msg list, warm p95 (ms)", latency["warm"]["p95"], ""],
        [f"{size}-msg list, agent loop p50 (ms)", latency["agent_loop"]["p50"], ""],
        [f"{size}-msg list, agent loop p50 (CPU ms)", latency["cpu"]["agent_loop"]["p50"], ""],
        [f"{size}-msg list, agent loop p95 (ms)", latency["agent_loop"]["p95"], ""],
        [f"{size}-msg list, cold p50 (ms)", latency["cold"]["p50"], ""],
        [f"{size}-msg list, cold p95 (ms)", latency["cold"]["p95"], ""],
    ]
    markdown = (
        "# Compression benchmark\n\n"
        f"{classification['n_messages']} distinct messages of at most {bench.SHORT_CHARS} characters "
        f"(mean {classification['mean_chars']:.0f}); {latency['n_lists']} {'real' if data else 'synthetic'} "
        f"{size}-message lists. "
        "Token counts: litellm.token_counter, cached per message content (token_counts_cached = true); "
        "cold = every cache cleared before the call, agent loop = the list grows one message per call, "
        f"warm = the same list again. Load average at the end: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs (CPU-time rows exclude waiting for a core).\n\n" + markdown_table(["measure", "value", "target"], rows)
    )

    def plot(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        names = ["warm", "agent_loop", "cold"]
        ax.bar(names, [latency[n]["p50"] for n in names], label="p50")
        ax.scatter(names, [latency[n]["p95"] for n in names], color="black", label="p95", zorder=3)
        ax.set_yscale("log")
        ax.set_ylabel("ms per list")
        ax.set_title(f"compress() on {size}-message lists")
        ax.legend()

    paths = write_report(out, "bench_compress", payload, markdown, plot)
    console.print(markdown_table(["measure", "value", "target"], rows), highlight=False)
    console.print(f"wrote {paths['json']}", highlight=False)
