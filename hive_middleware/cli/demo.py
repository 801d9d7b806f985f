"""``hive demo``: what hive-middleware does today, on a small example transcript.

Runs offline in seconds on ``examples/transcripts`` (an 8-step SWE-agent 1.x
run: find a bug, view the file, run the tests, edit, re-run, submit) or on
any ``--data`` path: the reader's per-step view, token counts, action types,
and the compression and routing figures of the baselines (and of the engines
once installed).
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
    from hive_middleware.evals.actions import action_type
    from hive_middleware.evals.compress_eval import BASELINES, last_5_masking, list_tokens, run_compress_eval
    from hive_middleware.evals.identifiers import action_identifiers
    from hive_middleware.evals.route_eval import RepeatLastPolicy, run_route_eval
    from hive_middleware.evals.trajectories import iter_trajectories, trajectory_files
    from hive_middleware.tokens import count_text_tokens

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
    from hive_middleware.evals.report import markdown_table

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
    out: Annotated[Path, typer.Option("--out", help="Directory for demo.json and demo.md.")] = Path(
        "hive-demo"
    ),
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data", help="A .traj file or folder to show instead of the bundled example; repeatable."
        ),
    ] = None,
) -> None:
    """Show what hive-middleware does today on a small example agent run (offline, seconds).

    Reads the run step by step (the state and message list the agent had), counts tokens, types each
    action, and measures the compression and routing baselines (and the engines once installed).
    """
    from rich.table import Table

    from hive_middleware.evals.report import write_report

    paths = list(data) if data else [example_transcripts()]
    console = Console()
    with console.status("reading and measuring"):
        demo = build_demo(paths)
    for run in demo["runs"]:
        table = Table(title=f"{run['run_id']}: {run['format_version']}, {run['exit_status']}")
        for col in ("#", "type", "action", "obs tok", "ctx raw", "ctx last5", "ids"):
            table.add_column(col, no_wrap=col != "action")
        for s in run["steps"]:
            table.add_row(
                str(s["index"]),
                s["action_type"],
                _first_line(s["action"], 30),
                str(s["observation_tokens"]),
                str(s["context_tokens_raw"]),
                str(s["context_tokens_last_5_masking"]),
                str(len(s["reused_identifiers"])),
            )
        console.print(table)
    summary = Table(title="compression over every step")
    for col in ("method", "token_ratio", "identifier_retention"):
        summary.add_column(col)
    for name, ratio, retention in _compress_rows(demo):
        summary.add_row(
            name,
            "n/a" if ratio is None else f"{ratio:.3f}",
            "n/a" if retention is None else f"{retention:.3f}",
        )
    console.print(summary)
    written = write_report(out, "demo", demo, demo_markdown(demo))
    console.print(f"wrote {written['json']} and {written['md']}")
