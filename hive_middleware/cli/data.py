"""``hive data stats``: what is in a trajectory folder or a LoCoMo file.

The kind of each path is decided by its content: a folder, a ``.traj`` file or
a JSON object with a ``trajectory`` list is SWE-agent trajectories; a JSON list
whose items have a ``conversation`` is LoCoMo.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hive_middleware.cli.app import data_app

__all__ = ["detect_kind", "trajectory_stats"]


def detect_kind(path: Path) -> str:
    """``"trajectories"`` or ``"locomo"``, from the path's content.

    Raises:
        HiveDataError: the path is missing or is neither kind.
    """
    from hive_middleware.errors import HiveDataError

    if path.is_dir() or path.suffix == ".traj":
        return "trajectories"
    if not path.is_file():
        raise HiveDataError(f"{path}: no such file or folder", path=str(path))
    try:
        doc = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HiveDataError(
            f"{path}: not JSON; pass a folder of .traj files, a .traj file or a LoCoMo JSON file",
            path=str(path),
        ) from exc
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "conversation" in doc[0]:
        return "locomo"
    if isinstance(doc, dict) and isinstance(doc.get("trajectory"), list):
        return "trajectories"
    raise HiveDataError(
        f"{path}: neither a SWE-agent trajectory (an object with a 'trajectory' list) nor LoCoMo "
        "(a list of objects with a 'conversation')",
        path=str(path),
    )


def trajectory_stats(path: Path, model: str, on_run: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Runs, steps, action types and observation tokens of one trajectory path.

    Args:
        path: A folder of ``.traj`` files or one trajectory file.
        model: Model whose tokenizer counts observation tokens.
        on_run: Called after each run.

    Returns:
        ``{"kind", "runs", "steps", "formats", "exit_status", "action_types",
        "observation_tokens": {"sum", "median", "max"}}``.
    """
    from hive_middleware.routing.action_types import ACTION_TYPES, action_type
    from hive_middleware.tokens import count_text_tokens
    from hive_middleware.trajectories import iter_trajectories, read_trajectory

    runs = (
        iter_trajectories([path])
        if path.is_dir() or path.suffix == ".traj"
        else iter([read_trajectory(path)])
    )
    types: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    tokens: list[int] = []
    n_runs = 0
    for run in runs:
        n_runs += 1
        formats[run.format_version] += 1
        exits[run.exit_status or "unknown"] += 1
        for step in run.steps:
            types[action_type(step.action)] += 1
            tokens.append(count_text_tokens(step.observation, model))
        if on_run is not None:
            on_run(run)
    return {
        "kind": "trajectories",
        "runs": n_runs,
        "steps": len(tokens),
        "formats": dict(formats),
        "exit_status": dict(exits.most_common()),
        "action_types": {t: types[t] for t in ACTION_TYPES if types[t]},
        "observation_tokens": {
            "sum": sum(tokens),
            "median": statistics.median(tokens) if tokens else None,
            "max": max(tokens) if tokens else None,
        },
    }


def _show_trajectories(console: Console, path: Path, stats: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{path} (trajectories)", show_header=False)
    obs = stats["observation_tokens"]
    for label, value in [
        ("runs", stats["runs"]),
        ("steps", stats["steps"]),
        ("formats", ", ".join(f"{k}: {v}" for k, v in stats["formats"].items())),
        ("exit status", ", ".join(f"{k}: {v}" for k, v in stats["exit_status"].items())),
        ("observation tokens (sum)", obs["sum"]),
        ("observation tokens (median)", obs["median"]),
    ]:
        table.add_row(label, str(value))
    console.print(table)
    types = Table(title="action types")
    types.add_column("type")
    types.add_column("steps", justify="right")
    types.add_column("share", justify="right")
    for kind, count in sorted(stats["action_types"].items(), key=lambda kv: -kv[1]):
        types.add_row(kind, str(count), f"{count / max(1, stats['steps']):.1%}")
    console.print(types)


def _show_locomo(console: Console, path: Path, stats: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{path} (LoCoMo)", show_header=False)
    for key in ("conversations", "sessions", "turns", "questions"):
        table.add_row(key, str(stats.get(key)))
    for name, count in (stats.get("questions_per_category") or {}).items():
        table.add_row(f"questions: {name}", str(count))
    for key, value in stats.items():
        if key not in ("conversations", "sessions", "turns", "questions", "questions_per_category", "kind"):
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)


def _advancer(progress: Any, task: Any) -> Callable[[Any], None]:
    return lambda _run: progress.advance(task)


@data_app.command("stats")
def stats_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Folders of SWE-agent .traj files, .traj files, or LoCoMo JSON files (kind detected)."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model whose tokenizer counts tokens (default: config model)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write all the figures to this JSON file.")
    ] = None,
) -> None:
    """Runs, steps, action-type distribution and observation tokens of trajectories; conversations,
    sessions, turns and questions per category of LoCoMo files."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hive_middleware.config import DEFAULT_MODEL
    from hive_middleware.trajectories import count_trajectory_files

    console = Console()
    token_model = model or DEFAULT_MODEL
    kinds = [(p, detect_kind(p)) for p in paths]  # every path checked before any work
    results: dict[str, Any] = {}
    started = time.perf_counter()
    for path, kind in kinds:
        if kind == "locomo":
            from hive_middleware.evals.locomo import locomo_stats

            with console.status(f"reading {path}"):
                stats = {"kind": "locomo", **locomo_stats(path)}
            _show_locomo(console, path, stats)
        else:
            total = count_trajectory_files([path]) if path.is_dir() or path.suffix == ".traj" else 1
            with Progress(
                TextColumn(f"[bold]{path.name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            ) as progress:
                task = progress.add_task("runs", total=total)
                stats = trajectory_stats(path, token_model, _advancer(progress, task))
            _show_trajectories(console, path, stats)
        results[str(path)] = stats
    elapsed = time.perf_counter() - started
    console.print(f"{len(kinds)} path(s) in {elapsed:.1f} s")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"paths": results, "seconds": elapsed}, indent=2) + "\n")
