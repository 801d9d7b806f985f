"""``hive eval compress`` and ``hive eval route``: trajectory evaluations against their baselines.

Heavy imports (litellm through token counting, torch through a router model,
matplotlib) happen inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hive_middleware.cli.app import eval_app

DataOption = Annotated[
    list[Path],
    typer.Option(
        "--data",
        help="A folder of SWE-agent .traj files or one .traj file; repeat for several "
        "(each folder is reported as its own group).",
    ),
]
OutOption = Annotated[Path, typer.Option("--out", help="Directory for the JSON, Markdown and PNG reports.")]
MaxRunsOption = Annotated[
    int | None,
    typer.Option(
        "--max-runs", min=1, help="Read at most this many runs from each --data path (default: all)."
    ),
]


@contextmanager
def trajectory_progress(
    paths: Sequence[Path], label: str, max_runs: int | None
) -> Iterator[Callable[[Any], None]]:
    """A rich progress bar over the runs under ``paths``; yields the per-run callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hive_middleware.trajectories import count_trajectory_files

    total = sum(
        min(count_trajectory_files([p]), max_runs) if max_runs else count_trajectory_files([p]) for p in paths
    )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda _run: progress.advance(task)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Show rows as a rich table on stdout."""
    from rich.table import Table

    table = Table(title=title)
    for name in header:
        table.add_column(name)
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    Console().print(table)


def print_warning(line: str) -> None:
    """One ``warning: ...`` line on stderr (skipped records), never wrapped."""
    import sys

    sys.stderr.write(f"warning: {' '.join(line.split())}\n")
    sys.stderr.flush()


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _require_paths(paths: Sequence[Path], option: str) -> None:
    from hive_middleware.errors import HiveUsageError

    if not paths:
        raise HiveUsageError(f"give at least one {option} PATH (a folder of .traj files or one .traj file)")


# --------------------------------------------------------------------------- compress


def _compression_engine(budget: int | None, model: str) -> Callable[[list[Any]], list[Any]] | None:
    """The engine as a method (keeping its originals per run), or None when it is not installed."""
    from hive_middleware.evals.compress_engine import EngineMethod, engine_available

    if not engine_available():
        return None
    return EngineMethod(budget=budget, model=model)


def _method_entries(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    entries: list[tuple[str, dict[str, Any]]] = []
    if result.get("engine"):
        entries.append((str(result["engine"]), result))
    entries += list(result["baselines"].items())
    return entries


def _parse_shapes(raw: str) -> list[str]:
    from hive_middleware.errors import HiveUsageError
    from hive_middleware.evals.compress_eval import SHAPES

    shapes = [s.strip() for s in raw.split(",") if s.strip()]
    bad = [s for s in shapes if s not in SHAPES]
    if not shapes or bad:
        raise HiveUsageError(f"--shapes takes a comma-separated list of {', '.join(SHAPES)}; got {raw!r}")
    return list(dict.fromkeys(shapes))


def _save_png(path: Path, draw: Callable[[Any], None]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 5), dpi=110)
    try:
        draw(fig)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


@eval_app.command("compress")
def compress_command(
    data: DataOption,
    out: OutOption,
    budget: Annotated[
        int | None, typer.Option("--budget", min=1, help="Token budget passed to the compression engine.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model whose tokenizer counts tokens (default: config model)."),
    ] = None,
    max_runs: MaxRunsOption = None,
    shapes: Annotated[
        str,
        typer.Option(
            "--shapes",
            help="Message shapes to measure, comma-separated: string (as the agent sent them), "
            "parts (every string content as one OpenAI text part).",
        ),
    ] = "string,parts",
    tradeoff_runs: Annotated[
        int,
        typer.Option(
            "--tradeoff-runs",
            min=0,
            help="Runs per --data path for the token/anchor trade-off (the engine at several settings); "
            "0 skips it.",
        ),
    ] = 25,
) -> None:
    """Compression at every step of real runs: token_ratio, identifier_retention and anchor_retention.

    Hive against last_5_masking, keep_3_clearing and raw, per folder and per message shape. Writes
    OUT/compress.json (keys of DESIGN §3, plus per_shape, anchor_retention, anchor_retention_expandable
    and tradeoff), compress.md, compress.png and compress_tradeoff.png. The engine
    (hive_middleware.compression.compress) is reported at the top level when installed; without it
    the top-level figures are null and only the baselines are measured.
    """
    from hive_middleware.config import DEFAULT_MODEL
    from hive_middleware.evals.compress_eval import BASELINES, run_compress_eval
    from hive_middleware.evals.compress_report import compress_markdown, compress_plot, tradeoff_plot
    from hive_middleware.evals.compress_tradeoff import run_tradeoff
    from hive_middleware.evals.report import write_report
    from hive_middleware.skipped import recording_skips
    from hive_middleware.trajectories import trajectory_files

    _require_paths(data, "--data")
    shape_list = _parse_shapes(shapes)
    trajectory_files(data)  # fail fast on a bad path, before any work
    token_model = model or DEFAULT_MODEL
    methods: dict[str, Callable[[list[Any]], list[Any]]] = {}
    engine = _compression_engine(budget, token_model)
    engine_name = None
    if engine is not None:
        engine_name = "hive"
        methods[engine_name] = engine
    methods.update(BASELINES)
    console = Console(stderr=True)
    with (
        recording_skips(print_warning) as skips,
        trajectory_progress(data, f"compress ({', '.join(shape_list)})", max_runs) as advance,
    ):
        result = run_compress_eval(
            data,
            methods,
            engine_name,
            model=token_model,
            max_runs=max_runs,
            on_run=advance,
            shapes=shape_list,
        )
    result["skipped"] = skips.counts
    if engine_name is None:
        result["note"] = (
            "compression engine not installed: hive_middleware.compression provides no compress()"
        )
        console.print(f"[yellow]note:[/] {result['note']}; top-level figures are null, baselines measured.")
    elif tradeoff_runs > 0:
        runs = tradeoff_runs if max_runs is None else min(tradeoff_runs, max_runs)
        # The same files again: their skips were counted and warned about above.
        with recording_skips(lambda _line: None), trajectory_progress(data, "trade-off", runs) as advance:
            result["tradeoff"] = run_tradeoff(data, model=token_model, max_runs=runs, on_run=advance)
    paths = write_report(out, "compress", result, compress_markdown(result), compress_plot(result))
    if result.get("tradeoff"):
        paths["tradeoff_png"] = out / "compress_tradeoff.png"
        _save_png(paths["tradeoff_png"], tradeoff_plot(result["tradeoff"]))
    keys = ["token_ratio", "identifier_retention", "anchor_retention", "anchor_retention_expandable"]
    print_table(
        f"compression: {result['n_runs']} runs, {result['n_steps']} steps ({result['shape']} shape)",
        ["method", *keys, "ms/step p50"],
        [
            [name, *(e[k] for k in keys), (e.get("ms_per_step") or {}).get("p50")]
            for name, e in _method_entries(result)
        ],
    )
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


# --------------------------------------------------------------------------- route


def _load_router(model_dir: Path) -> Any:
    """The routing engine's policy from ``model_dir`` (``load_policy`` of hive_middleware.routing)."""
    from importlib import import_module

    from hive_middleware.errors import HiveDependencyError

    for module_name in ("hive_middleware.routing", "hive_middleware.routing.policy"):
        try:
            module = import_module(module_name)
        except ImportError:
            continue
        loader = getattr(module, "load_policy", None)
        if callable(loader):
            return loader(model_dir)
    raise HiveDependencyError(
        "the routing engine is not installed: hive_middleware.routing provides no load_policy(); "
        "run without --model to measure the baselines only"
    )


_ROUTE_KEYS = ("coverage", "precision", "type_top1", "escalation_rate")


def route_markdown(result: dict[str, Any]) -> str:
    """The Markdown summary of a routing evaluation."""
    from hive_middleware.markdown import markdown_table

    entries = _method_entries(result)
    rows = [
        [
            name,
            *(_fmt(e[k]) for k in _ROUTE_KEYS),
            _fmt(e.get("routes_per_s")),
            _fmt((e.get("latency_us") or {}).get("p50")),
        ]
        for name, e in entries
    ]
    split = result.get("split", {})
    parts = [
        "# Routing evaluation\n\n",
        f"{result['n_runs']} runs, {result['n_steps']} steps evaluated.",
        f" Held-out split by run in: {', '.join(split.get('split_folders') or []) or 'none'};"
        f" prev_type trained on {split.get('train_runs', 0)} runs.\n\n",
        markdown_table(["policy", *_ROUTE_KEYS, "routes/s", "latency p50 (us)"], rows),
    ]
    if not result.get("engine"):
        parts.append(f"\nEngine: not measured ({result.get('note', 'no --model given')}).\n")
    if result.get("skipped"):
        skipped = ", ".join(f"{reason}: {n}" for reason, n in result["skipped"].items())
        parts.append(f"\nSkipped malformed records: {skipped}.\n")
    group_rows = [
        [group, name, *(_fmt(g[k]) for k in _ROUTE_KEYS), g["n_runs"], g["n_steps"]]
        for name, e in entries
        for group, g in (e.get("per_group") or {}).items()
    ]
    parts += [
        "\n## Per group\n\n",
        markdown_table(["group", "policy", *_ROUTE_KEYS, "runs", "steps"], group_rows),
    ]
    return "".join(parts)


def route_plot(result: dict[str, Any]) -> Callable[[Any], None]:
    """Precision against coverage when a policy exposes confidences; else bars of the rates."""

    def draw(fig: Any) -> None:
        entries = _method_entries(result)
        curves = [(name, e["curve"]) for name, e in entries if e.get("curve")]
        ax = fig.add_subplot(1, 1, 1)
        if curves:
            colors = {name: f"C{i}" for i, (name, _) in enumerate(entries)}
            for name, curve in curves:
                ax.plot(
                    [p["coverage"] for p in curve],
                    [p["precision"] for p in curve],
                    marker=".",
                    label=name,
                    color=colors[name],
                )
            for name, e in entries:
                if not e.get("curve") and e.get("precision") is not None:
                    ax.scatter([e["coverage"]], [e["precision"]], label=name, color=colors[name], marker="s")
            ax.set_xlabel("coverage")
            ax.set_ylabel("precision")
            ax.set_xlim(0, 1.0)
            ax.set_ylim(0, 1.05)
            ax.set_title("precision vs coverage (confidence threshold sweep)")
        else:
            width = 0.8 / max(1, len(entries))
            for j, (name, e) in enumerate(entries):
                values = [e[k] or 0.0 for k in _ROUTE_KEYS]
                ax.bar([i + j * width for i in range(len(_ROUTE_KEYS))], values, width, label=name)
            ax.set_xticks([i + width * (len(entries) - 1) / 2 for i in range(len(_ROUTE_KEYS))])
            ax.set_xticklabels(list(_ROUTE_KEYS))
            ax.set_ylim(0, 1.05)
            ax.set_title("routing: engine vs baselines")
        ax.legend(fontsize=8)

    return draw


@eval_app.command("route")
def route_command(
    data: DataOption,
    out: OutOption,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Router model directory (from `hive router train`); without it only the baselines are measured. "
            "With --online it is the prior shadow mode starts from; 'none' starts from nothing.",
        ),
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Prequential replay: each folder's runs in file-name order, answering live only with habits "
            "graduated in shadow mode, learning from each step after it is scored.",
        ),
    ] = False,
    train: Annotated[
        list[Path] | None,
        typer.Option(
            "--train",
            help="Folder or .traj file prev_type learns from; repeatable. A folder also given as --data is "
            "split by run (1 in 5 held out for evaluation). Without --train, prev_type is not measured.",
        ),
    ] = None,
    max_runs: MaxRunsOption = None,
) -> None:
    """Routing on every step of real runs: coverage, precision, type_top1 vs repeat_last and prev_type.

    Writes OUT/route.json (keys of DESIGN §3), route.md and route.png. With --model the router
    engine is loaded and reported at the top level; without it the top-level figures are null.
    With --online the replay is prequential (shadow mode: habits graduate per folder, which is one
    agent) and route.json adds answered, learning_curve (coverage and precision per 500 steps) and
    ceiling (steps any candidate reproduced, hindsight coverage per signature rung); habits lists near
    misses with the reason. The graduation rule comes from routing.habit_* (e.g.
    HIVE_ROUTING__HABIT_MIN_LOWER_BOUND=0.97).
    """
    from dataclasses import replace

    from hive_middleware.evals.report import write_report
    from hive_middleware.evals.route_eval import (
        PrevTypePolicy,
        RepeatLastPolicy,
        read_runs,
        run_route_eval,
        split_runs,
    )
    from hive_middleware.routing.split import HOLDOUT_FOLDS
    from hive_middleware.skipped import SkippedRecords

    _require_paths(data, "--data")
    no_model = model_dir is not None and str(model_dir).lower() == "none"
    if online:
        _route_online(data, out, None if no_model else model_dir, max_runs)
        return
    if no_model:
        model_dir = None
    console = Console(stderr=True)
    skips = SkippedRecords(print_warning)
    train_skips = SkippedRecords(print_warning)
    split = split_runs(data, train or (), max_runs=max_runs)
    policies: dict[str, Any] = {}
    engine_name = None
    excluded_trained = 0
    if model_dir is not None:
        policies["hive"] = _load_router(model_dir)
        engine_name = "hive"
        # Never score any policy on runs the router model was trained or calibrated on.
        seen: frozenset[str] = getattr(policies["hive"], "training_runs", frozenset())
        if seen:
            kept = tuple(f for f in split.eval_files if f.name.removesuffix(".traj") not in seen)
            excluded_trained = len(split.eval_files) - len(kept)
            split = replace(split, eval_files=kept)
    policies["repeat_last"] = RepeatLastPolicy()
    if split.train_files:
        with console.status(f"learning prev_type from {len(split.train_files)} runs"):
            policies["prev_type"] = PrevTypePolicy.fit(read_runs(split.train_files, train_skips))
    else:
        console.print("[yellow]note:[/] no --train given: the prev_type baseline is not measured.")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]route"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("route", total=len(split.eval_files))
        result = run_route_eval(
            split.eval_files, policies, engine_name, on_run=lambda _r: progress.advance(task), skips=skips
        )
    result["split"] = {
        "rule": f"runs of a folder that is both --data and --train are held out when "
        f"sha256(run_id) mod {HOLDOUT_FOLDS} == 0; only those are evaluated there",
        "split_folders": list(split.split_folders),
        "eval_runs": len(split.eval_files),
        "train_runs": len(split.train_files),
        "excluded_model_training_runs": excluded_trained,
        "skipped_train": train_skips.counts,
    }
    if engine_name is None:
        result["note"] = "no --model given: the router engine is not measured"
    sweep = getattr(policies.get("hive"), "with_threshold", None)
    if callable(sweep):
        # The engine answers only above its threshold, so its own curve is one corner; re-route
        # at threshold 0 (escalations by OOD or "no template" stay) for the full precision-coverage curve.
        with console.status("precision-coverage sweep of the engine"):
            swept = run_route_eval(
                split.eval_files, {"hive": sweep(0.0)}, "hive", skips=SkippedRecords(lambda _line: None)
            )
        if swept.get("curve"):
            result["curve"] = swept["curve"]
            result["curve_note"] = (
                "engine re-routed at threshold 0; each point answers steps with confidence >= threshold"
            )
    paths = write_report(out, "route", result, route_markdown(result), route_plot(result))
    print_table(
        f"routing: {result['n_runs']} runs, {result['n_steps']} steps",
        ["policy", *_ROUTE_KEYS, "routes/s"],
        [[name, *(e[k] for k in _ROUTE_KEYS), e.get("routes_per_s")] for name, e in _method_entries(result)],
    )
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


# --------------------------------------------------------------------------- route --online


def _route_online(data: Sequence[Path], out: Path, model_dir: Path | None, max_runs: int | None) -> None:
    """``hive eval route --online``: the prequential replay of :func:`run_online_route_eval`."""
    from hive_middleware.config import HiveConfig
    from hive_middleware.evals.report import write_report
    from hive_middleware.evals.route_eval import RepeatLastPolicy, run_online_route_eval
    from hive_middleware.routing.habits import GraduationRule
    from hive_middleware.routing.shadow import ShadowRouter
    from hive_middleware.skipped import SkippedRecords
    from hive_middleware.trajectories import trajectory_files

    console = Console(stderr=True)
    trajectory_files(list(data))  # fail fast on a bad path
    prior = _load_router(model_dir) if model_dir is not None else None
    rule = GraduationRule.from_config(HiveConfig.load().routing)
    router = ShadowRouter(prior, rule=rule)
    # A prior never replays the runs it was trained on: the replay must be news to the router.
    seen: frozenset[str] = router.training_runs
    with trajectory_progress(data, "route --online", max_runs) as advance:
        result = run_online_route_eval(
            data, router, baselines={"repeat_last": RepeatLastPolicy()}, max_runs=max_runs,
            exclude_runs=seen, on_run=advance, skips=SkippedRecords(print_warning),
        )
    result["prior"] = str(model_dir) if model_dir is not None else None
    result["rule"] = {
        "min_observations": rule.min_observations, "min_lower_bound": rule.min_lower_bound, "z": rule.z,
        "min_sources": rule.min_sources, "smallest_proof": rule.floor,
    }
    paths = write_report(out, "route", result, route_online_markdown(result), route_online_plot(result))
    print_table(
        f"routing (online): {result['n_runs']} runs, {result['n_steps']} steps",
        ["policy", *_ROUTE_KEYS, "answered"],
        [[name, *(e[k] for k in _ROUTE_KEYS), e.get("answered", e.get("n_answered"))]
         for name, e in _method_entries(result)],
    )
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


def route_online_markdown(result: dict[str, Any]) -> str:
    """The Markdown summary of a prequential routing evaluation, with the learning curve per folder."""
    from hive_middleware.markdown import markdown_table

    rule = result.get("rule") or {}
    latency = result.get("latency_us") or {}
    parts = [
        "# Routing evaluation (prequential, shadow mode)\n\n",
        f"{result['n_runs']} runs, {result['n_steps']} steps replayed in file-name order per folder; "
        f"prior: {result.get('prior') or 'none'}; runs the prior was trained on were skipped "
        f"({result.get('excluded_runs', 0)}). Answers come only from habits graduated per folder "
        f"(at least {rule.get('min_observations')} observations from {rule.get('min_sources')} runs, "
        f"Wilson lower bound (z={rule.get('z')}) >= {rule.get('min_lower_bound')}).\n\n",
        markdown_table(
            ["policy", *_ROUTE_KEYS, "answered"],
            [[name, *(_fmt(e[k]) for k in _ROUTE_KEYS), e.get("answered", e.get("n_answered"))]
             for name, e in _method_entries(result)],
        ),
        f"\nOne decision plus its learning update: p50 {_fmt(latency.get('p50'))} us, "
        f"p95 {_fmt(latency.get('p95'))} us.\n",
        "\n## Per folder\n\n",
        markdown_table(
            ["group", *_ROUTE_KEYS, "answered", "steps"],
            [[g, *(_fmt(e[k]) for k in _ROUTE_KEYS), e["n_answered"], e["n_steps"]]
             for g, e in (result.get("per_group") or {}).items()],
        ),
        "\n## Learning curve (per window of steps seen)\n\n",
    ]
    rows = [
        [g, p["steps_seen"], p["window"], _fmt(p["coverage"]), _fmt(p["precision"]), p["answered"]]
        for g, e in (result.get("per_group") or {}).items()
        for p in e.get("learning_curve") or []
    ]
    parts.append(markdown_table(["group", "steps seen", "window", "coverage", "precision", "answered"], rows))
    habits = result.get("habits") or {}
    if habits:
        parts.append("\n## Habits\n\n")
        parts.append(markdown_table(
            ["group", "habits watched", "live at the end", "graduations", "demotions"],
            [[g, h["habits"], h["live"], h["graduations"], h["demotions"]] for g, h in habits.items()],
        ))
        parts.append(_route_online_ceiling_markdown(result, habits))
    return "".join(parts)


def _route_online_ceiling_markdown(result: dict[str, Any], habits: dict[str, Any]) -> str:
    """Why the coverage is what it is: reproducible steps, hindsight coverage per rung, near misses."""
    from hive_middleware.markdown import markdown_table

    rungs = list(dict.fromkeys(r for h in habits.values() for r in (h.get("hindsight_coverage") or {})))
    ceiling = result.get("ceiling") or {}
    rows = [[g, _fmt(result["per_group"][g]["coverage"]), _fmt(h.get("reproducible_share")),
             *(_fmt((h.get("hindsight_coverage") or {}).get(r)) for r in rungs)] for g, h in habits.items()]
    if ceiling:
        rows.append(["all", _fmt(result.get("coverage")), _fmt(ceiling.get("reproducible_share")),
                     *(_fmt((ceiling.get("hindsight_coverage") or {}).get(r)) for r in rungs)])
    parts = [
        "\n## Ceiling\n\n",
        "reproducible: steps whose action some candidate (template, recurring command, prior) reproduced "
        "exactly, the most any habit could answer; hindsight: steps the best template of each signature "
        "answers correctly had every habit's lifetime exact-match rate been known from the start (rate at "
        "least the bound; the distinct-run requirement is not applied).\n\n",
        markdown_table(["group", "coverage", "reproducible", *(f"hindsight {r}" for r in rungs)], rows),
    ]
    misses = [(g, m) for g, h in habits.items() for m in h.get("near_misses") or []]
    if misses:
        parts.append("\n## Near misses (nearly exact habits not live at the end)\n\n")
        parts.append(markdown_table(
            ["group", "signature", "template", "lifetime", "window", "runs in window", "demotions", "reason"],
            [[g, m["signature"], m["template"], f"{m['lifetime_hits']}/{m['lifetime_n']}",
              f"{m['window_hits']}/{m['window_n']}", m["window_runs"], m["demotions"], m["reason"]]
             for g, m in misses],
        ))
    return "".join(parts)


def route_online_plot(result: dict[str, Any]) -> Callable[[Any], None]:
    """Coverage and precision per window of steps seen, one line per folder."""

    def draw(fig: Any) -> None:
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        for i, (group, entry) in enumerate((result.get("per_group") or {}).items()):
            points = entry.get("learning_curve") or []
            xs = [p["steps_seen"] for p in points]
            ax1.plot(xs, [p["coverage"] for p in points], marker=".", color=f"C{i}", label=group)
            ax2.plot(
                [p["steps_seen"] for p in points if p["precision"] is not None],
                [p["precision"] for p in points if p["precision"] is not None],
                marker=".", color=f"C{i}", label=group,
            )
        ax1.set_ylabel("coverage")
        ax1.set_ylim(0, max(0.2, *(p["coverage"] for p in result.get("learning_curve") or [{"coverage": 0}])) * 1.1)
        ax1.set_title("prequential routing: answers from graduated habits, per window of steps")
        ax1.legend(fontsize=7)
        ax2.set_ylabel("precision")
        ax2.set_ylim(0, 1.05)
        ax2.axhline(0.95, color="#999999", linestyle=":", linewidth=1)
        ax2.set_xlabel("steps seen (per folder)")

    return draw


# --------------------------------------------------------------------------- speculate


@eval_app.command("speculate")
def speculate_command(
    data: DataOption,
    out: OutOption,
    k: Annotated[
        int, typer.Option("--k", min=1, max=5, help="Read-only calls pre-executed per step (headline figures).")
    ] = 3,
    habits: Annotated[
        bool,
        typer.Option(
            "--habits/--no-habits",
            help="Replay the router's shadow habits per folder beside the predictor; live proposals rank first.",
        ),
    ] = False,
    max_runs: MaxRunsOption = None,
) -> None:
    """Speculative pre-execution on every step of real runs: hit_rate, tool_seconds_saved_ratio, waste.

    Writes OUT/speculate.json (read_only_steps, hit_rate, k, tool_seconds_saved_ratio,
    wasted_executions_per_step, their *_by_k curves for k=1..5, per_group per folder), speculate.md
    and speculate.png (hit rate vs k).
    """
    from hive_middleware.evals.report import write_report
    from hive_middleware.evals.speculate_eval import SPECULATE_KEYS, run_speculate_eval
    from hive_middleware.evals.speculate_report import speculate_markdown, speculate_plot
    from hive_middleware.skipped import recording_skips
    from hive_middleware.trajectories import trajectory_files

    _require_paths(data, "--data")
    trajectory_files(data)  # fail fast on a bad path, before any work
    with recording_skips(print_warning) as skips, trajectory_progress(data, "speculate", max_runs) as advance:
        result = run_speculate_eval(data, k=k, habits=habits, max_runs=max_runs, on_run=advance, skips=skips)
    paths = write_report(out, "speculate", result, speculate_markdown(result), speculate_plot(result))
    print_table(
        f"speculation: {result['n_runs']} runs, {result['n_steps']} steps, k={k}",
        ["folder", *SPECULATE_KEYS],
        [[name, *(e[key] for key in SPECULATE_KEYS)]
         for name, e in [("all", result), *result["per_group"].items()]],
    )
    Console(stderr=True).print(f"wrote {', '.join(str(p) for p in paths.values())}")
