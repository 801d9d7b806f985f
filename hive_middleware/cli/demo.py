"""``hive demo``: recorded agent runs replayed through a LangGraph agent, without and with Hive.

Runs offline on ``examples/transcripts`` (small SWE-agent 1.x runs written for
this project) or on any ``--data`` path: model calls, input tokens, routed steps
(and wrong routes), memories written, a why() chain and Hive's time per step.
``--baselines`` adds the reader's per-step view and the compression and routing
baselines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hive_middleware.cli.app import app

__all__ = ["example_transcripts"]

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "transcripts"


def example_transcripts() -> Path:
    """The example transcript folder of a source checkout.

    Raises:
        HiveDataError: it is not there (an installed wheel): pass ``--data``.
    """
    from hive_middleware.errors import HiveDataError

    if not _EXAMPLES.is_dir():
        raise HiveDataError(
            f"example transcripts not found at {_EXAMPLES} (they ship with the source checkout); "
            "pass --data PATH to a .traj file or folder",
            path=str(_EXAMPLES),
        )
    return _EXAMPLES


def _first_line(text: str, width: int = 64) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def build_demo(paths: list[Path]) -> dict[str, Any]:
    """Everything the demo shows, as one JSON-ready dict."""
    from hive_middleware.cli.evals_traj import _compression_engine
    from hive_middleware.config import DEFAULT_MODEL
    from hive_middleware.evals.compress_eval import BASELINES, last_5_masking, list_tokens, run_compress_eval
    from hive_middleware.evals.identifiers import action_identifiers
    from hive_middleware.evals.route_eval import RepeatLastPolicy, run_route_eval
    from hive_middleware.routing.action_types import action_type
    from hive_middleware.tokens import count_text_tokens
    from hive_middleware.trajectories import iter_trajectories, trajectory_files

    runs: list[dict[str, Any]] = []
    for traj in iter_trajectories(paths):
        steps: list[dict[str, Any]] = []
        observations: list[str] = []
        for step in traj.steps:
            messages = step.messages
            steps.append(
                {
                    "index": step.index,
                    "action_type": action_type(step.action),
                    "action": _first_line(step.action),
                    "env": dict(step.state.env),
                    "observation_tokens": count_text_tokens(step.observation, DEFAULT_MODEL),
                    "context_messages": len(messages),
                    "context_tokens_raw": list_tokens(messages),
                    "context_tokens_last_5_masking": list_tokens(last_5_masking(messages)),
                    "reused_identifiers": sorted(action_identifiers(step.action, observations)),
                }
            )
            observations.append(step.observation)
        runs.append(
            {
                "run_id": traj.run_id,
                "group": traj.group,
                "format_version": traj.format_version,
                "exit_status": traj.exit_status,
                "system_prompt_tokens": count_text_tokens(traj.system_prompt, DEFAULT_MODEL),
                "instance_prompt_tokens": count_text_tokens(traj.instance_prompt, DEFAULT_MODEL),
                "steps": steps,
            }
        )
    methods: dict[str, Any] = {}
    engine = _compression_engine(None, DEFAULT_MODEL)
    if engine is not None:
        methods["hive"] = engine
    methods.update(BASELINES)
    compress = run_compress_eval(paths, methods, "hive" if engine is not None else None)
    route = run_route_eval(trajectory_files(paths), {"repeat_last": RepeatLastPolicy()})
    return {"runs": runs, "compress": compress, "route": route}


def demo_markdown(demo: dict[str, Any]) -> str:
    """The Markdown version of the demo."""
    from hive_middleware.markdown import markdown_table

    parts = ["# hive demo\n"]
    for run in demo["runs"]:
        parts.append(
            f"\n## {run['run_id']} ({run['format_version']}, {len(run['steps'])} steps, {run['exit_status']})\n\n"
        )
        rows = [
            [
                s["index"],
                s["action_type"],
                f"`{s['action']}`",
                s["observation_tokens"],
                s["context_tokens_raw"],
                s["context_tokens_last_5_masking"],
                len(s["reused_identifiers"]),
            ]
            for s in run["steps"]
        ]
        parts.append(
            markdown_table(
                ["step", "type", "action", "obs tokens", "context raw", "context last-5", "reused ids"], rows
            )
        )
    parts.append("\n## Compression (whole context at every step)\n\n")
    parts.append(markdown_table(["method", "token_ratio", "identifier_retention"], _compress_rows(demo)))
    rl = demo["route"]["baselines"]["repeat_last"]
    parts.append(
        f"\n## Routing\n\nrepeat_last: coverage {rl['coverage']:.3f}, precision "
        f"{(rl['precision'] or 0.0):.3f}, type_top1 {rl['type_top1']:.3f}.\n"
    )
    return "".join(parts)


def _compress_rows(demo: dict[str, Any]) -> list[list[Any]]:
    compress = demo["compress"]
    rows: list[list[Any]] = []
    if compress.get("engine"):
        rows.append(["hive engine", compress["token_ratio"], compress["identifier_retention"]])
    for name, entry in compress["baselines"].items():
        rows.append([name, entry["token_ratio"], entry["identifier_retention"]])
    return rows


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for demo.json, demo.md and demo.png.")] = Path(
        "hive-demo"
    ),
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data", help="A .traj file or folder to replay instead of the bundled example; repeatable."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Replay at most this many runs (the first by file name).")
    ] = 20,
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="Router model directory (default: the packaged model).")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", help="Memory embedder: 'minilm' (default, packaged) or 'hashing' (fast)."),
    ] = None,
    baselines: Annotated[
        bool, typer.Option("--baselines", help="Also print the per-step reader view and compression baselines.")
    ] = False,
    include_trained: Annotated[
        bool,
        typer.Option(
            "--include-trained",
            help="Also replay runs the router model was trained on (by default they are skipped: the router "
            "would be judged on runs it has seen).",
        ),
    ] = False,
) -> None:
    """Replay recorded agent runs through a real LangGraph agent twice, without and with Hive (offline).

    A scripted chat model replays the recorded actions and the tool replays the recorded observations, so
    the only difference is Hive: model calls saved by the router (in shadow mode: it answers only with
    habits each agent proved on the runs replayed before), input tokens saved by compression,
    memories written, a why() chain, and Hive's time per step. A routed action that differs from the
    recorded one is counted as wrong, shown, and replaced by the recorded one.
    """
    from importlib import import_module

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hive_middleware.evals.report import write_report
    from hive_middleware.trajectories import count_trajectory_files

    # The replay drives a LangGraph agent: it lives with the integrations and is loaded
    # by name, so the core never imports an integration.
    replay = import_module("hive_middleware.integrations.demo_replay")
    paths = list(data) if data else [example_transcripts()]
    available = count_trajectory_files(paths)
    total = min(limit, available)
    training = router_training(model_dir)
    trained = set() if include_trained else set(training["runs"])
    console = Console()
    console.print(_training_line(training, include_trained), highlight=False)
    with console.status("opening the Hive stack (memory, router)"):
        stack, cleanup = replay.open_demo_stack(model_dir, None, embedder)
    skipped: list[str] = []
    try:
        totals = replay.DemoTotals()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("replaying", total=total)
            for traj in replay.iter_runs(paths, None):
                if len(totals.runs) >= limit:
                    break
                if traj.run_id in trained:
                    skipped.append(traj.run_id)
                    continue
                progress.update(task, description=f"replaying {traj.run_id[:40]}")
                totals.add(replay.replay_trajectory(traj, stack))
                progress.advance(task)
        if not totals.runs:
            from hive_middleware.errors import HiveDataError

            raise HiveDataError(
                f"all {len(skipped)} runs under {', '.join(map(str, paths))} were used to train the router model; "
                "pass other runs, or --include-trained to replay them anyway",
                path=str(paths[0]),
            )
        replayed = len(totals.runs)
        subset = "all runs" if replayed == available else f"the first {replayed} runs by file name"
        if skipped:
            subset += f", {len(skipped)} the router was trained on skipped"
        payload = replay.summarize(totals, stack, data=[str(p) for p in paths], subset=subset)
        payload["router_training"] = {
            "groups": training["groups"], "n_runs": len(training["runs"]), "skipped": len(skipped),
            "included_trained": include_trained,
        }
    finally:
        cleanup()
    markdown = replay.demo_markdown(payload)
    if baselines:
        extra = build_demo(paths)
        payload["baselines"] = {"compress": extra["compress"], "route": extra["route"]}
        markdown += "\n" + demo_markdown(extra)
    _print_summary(console, payload)
    written = write_report(out, "demo", payload, markdown, replay.plot_demo(payload))
    console.print(f"wrote {', '.join(str(p) for p in written.values())}")


def router_training(model_dir: Path | None) -> dict[str, Any]:
    """What the router model was trained on: ``{"groups": {folder: runs}, "runs": [run ids]}`` (from its manifest)."""
    import json

    from hive_middleware.routing.policy import default_model_dir

    manifest = (model_dir or default_model_dir()) / "manifest.json"
    try:
        training = json.loads(manifest.read_text()).get("training") or {}
    except (OSError, ValueError):
        return {"groups": {}, "runs": []}
    runs = training.get("training_runs") or []
    return {"groups": dict(training.get("groups") or {}), "runs": [str(r) for r in runs]}


def _training_line(training: dict[str, Any], include_trained: bool) -> str:
    if not training["runs"]:
        return "router model: no record of its training runs"
    groups = ", ".join(f"{folder}: {n}" for folder, n in training["groups"].items())
    what = ("replaying them too (--include-trained)" if include_trained
            else "those runs are skipped (--include-trained replays them)")
    return f"router model trained on {len(training['runs'])} runs ({groups}); {what}"


def _print_summary(console: Console, payload: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{payload['runs']} runs, {payload['steps']} steps ({payload['subset']})")
    for col in ("", "without Hive", "with Hive"):
        table.add_column(col)
    table.add_row("LLM calls", str(payload["llm_calls"]["without"]), str(payload["llm_calls"]["with"]))
    table.add_row("input tokens", f"{payload['input_tokens']['without']:,}", f"{payload['input_tokens']['with']:,}")
    console.print(table)
    routed = payload["routed"]
    console.print(
        f"routed: {routed['answered']} answered, {routed['wrong']} wrong "
        f"({routed['wrong_rate']:.1%}); memories written: {payload['memories_written']}; "
        f"Hive time per step p50 {payload['overhead_ms']['p50']:.2f} ms, p95 {payload['overhead_ms']['p95']:.2f} ms"
    )
    router = payload.get("router") or {}
    if router.get("mode") == "shadow" and "live" in router:
        console.print(
            f"router in shadow mode: answers only from habits graduated per agent "
            f"({router['graduations']} graduations, {router['demotions']} demotions, {router['live']} live at the end, "
            f"{router['habits_saved']} saved as procedural memories)", highlight=False,
        )
    for wrong in routed["wrong_examples"][:5]:
        console.print(f"  wrong route in {wrong['run']} step {wrong['step']}: routed {wrong['routed'][:60]!r}, "
                      f"recorded {wrong['recorded'][:60]!r}", highlight=False, markup=False)
    chain = payload["why"]["chain"]
    if chain:
        console.print(f"why({payload['why']['key']}):")
        for link in chain:
            console.print(f"  {link.get('hop')} {link.get('edge')} -> [{link.get('type')}] "
                          f"{str(link.get('content', ''))[:90]}", highlight=False, markup=False)
