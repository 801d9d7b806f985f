"""``hive router train`` and ``hive bench route``."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hive_middleware.cli.app import bench_app, router_app
from hive_middleware.errors import HiveDataError, HiveUsageError

DEFAULT_BENCH_DATA = Path("../shared/data/trajectories/sweagent_lm32b_swebv")


@router_app.command("train")
def train_command(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="Folder of .traj runs (or one .traj file); repeat for several."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write (weights.safetensors + manifest.json).")],
    hidden: Annotated[int, typer.Option(help="Hidden width of the MLP.")] = 32,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 25,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds (by run) for calibration.")] = 4,
    target_precision: Annotated[float, typer.Option(help="Exact-action precision the threshold targets.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="'auto' (cuda when available), 'cpu' or 'cuda'.")] = "auto",
    matching: Annotated[
        str,
        typer.Option(help="How actions are compared: 'whitespace' (what `hive eval route` scores) or 'execution' "
                     "(also merges quoting and `cd` into the working directory)."),
    ] = "whitespace",
    no_holdout: Annotated[
        bool, typer.Option("--no-holdout", help="Also train on the runs `hive eval route` holds out.")
    ] = False,
) -> None:
    """Mine templates, train, calibrate and save a router model from trajectories.

    One run in five (sha256 of the run id, as `hive eval route`) is held out and never seen.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from hive_middleware.routing.train import TrainConfig, train_router
    from hive_middleware.trajectories import trajectory_files

    if not data:
        raise HiveUsageError("give at least one --data folder of .traj files")
    if not 0 < target_precision <= 1:
        raise HiveUsageError(f"--target-precision must be in (0, 1], got {target_precision}")
    if matching not in ("whitespace", "execution"):
        raise HiveUsageError(f"--matching must be 'whitespace' or 'execution', got {matching!r}")
    if hidden <= 0 or epochs <= 0 or folds < 2:
        raise HiveUsageError("--hidden and --epochs must be positive and --folds at least 2")
    trajectory_files(data)  # bad paths fail here, before any work starts
    console = Console(stderr=True)
    cfg = TrainConfig(
        hidden=hidden, epochs=epochs, folds=folds, target_precision=target_precision, seed=seed,
        device=device, holdout=not no_holdout, matching=matching,
    )
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("training", total=None)
        report = train_router(data, out, cfg, progress=lambda m: bar.update(task, description=m))
    s = report.summary
    _write_train_report(out, s)
    console.print(
        f"trained on {s['n_runs']} runs / {s['n_steps']} steps in {s['seconds']} s; "
        f"{s['n_templates']} templates, oracle coverage {s['oracle_coverage']:.3f}; "
        f"out-of-fold coverage {s['oof']['coverage']:.3f} at precision {s['oof']['precision']:.3f}; "
        f"held out {len(s['heldout_runs'])} runs; wrote {out}"
    )


@router_app.command("oracle")
def oracle_command(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="Folder of .traj runs (or one .traj file); repeat for several."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for router_oracle.json/.md.")],
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="Router model directory; default: the packaged model.")
    ] = None,
) -> None:
    """Oracle coverage per folder: the share of steps that some template of the model reproduces exactly.

    Runs the model was trained on are skipped. Also lists the templates that reproduce the most steps.
    """
    from collections import Counter

    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table
    from hive_middleware.routing.encode import encode_state, match_labels
    from hive_middleware.routing.policy import default_model_dir, load_policy
    from hive_middleware.trajectories import iter_trajectories, trajectory_files

    trajectory_files(data)
    policy = load_policy(model_dir or default_model_dir())
    model = policy.model
    groups: dict[str, dict[str, Any]] = {}
    for run in iter_trajectories(data):
        if run.run_id in policy.training_runs:
            continue
        g = groups.setdefault(run.group, {"runs": 0, "steps": 0, "covered": 0, "by_template": Counter()})
        g["runs"] += 1
        for step in run.steps:
            enc = encode_state(step.state, model.templates, model.spec)
            labels, _ = match_labels(enc, model.templates, step.action)
            g["steps"] += 1
            if labels.any():
                g["covered"] += 1
                for i in labels.nonzero()[0]:
                    g["by_template"][model.templates.names[int(i)]] += 1
    if not groups:
        raise HiveDataError("every run given was a training run of the model; pass other runs")
    per_group: dict[str, dict[str, Any]] = {
        name: {
            "oracle_coverage": g["covered"] / g["steps"] if g["steps"] else None,
            "n_runs": g["runs"],
            "n_steps": g["steps"],
            "top_templates": dict(g["by_template"].most_common(10)),
        }
        for name, g in groups.items()
    }
    payload = {"matching": model.templates.matching, "n_templates": len(model.templates), "per_group": per_group}
    md = "# Template oracle coverage\n\n" + markdown_table(
        ["group", "oracle coverage", "runs", "steps"],
        [[n, e["oracle_coverage"], e["n_runs"], e["n_steps"]] for n, e in per_group.items()],
    )
    written = write_report(out, "router_oracle", payload, md)
    Console(stderr=True).print(md)
    Console(stderr=True).print(f"wrote {written['json']}")


def _write_train_report(out: Path, summary: dict[str, Any]) -> None:
    """``train_report.{json,md,png}`` beside the model: precision-coverage curves out-of-fold and held out."""
    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table

    payload = {k: v for k, v in summary.items() if k not in ("training_runs", "heldout_runs")}
    held = summary.get("heldout") or {}
    rows = [
        ["out-of-fold (calibration)", summary["oof"]["coverage"], summary["oof"]["precision"], summary["oracle_coverage"]],
    ]
    if held:
        rows.append(["held-out runs", held["coverage"], held["precision"] or float("nan"), held["oracle_coverage"]])
    md = "# Router training report\n\n" + markdown_table(["split", "coverage", "precision", "oracle coverage"], rows)

    def plot(fig: Any) -> None:
        ax = fig.add_subplot(1, 1, 1)
        for name, curve in (("out-of-fold", summary["oof"]["curve"]), ("held-out runs", held.get("curve") or [])):
            if curve:
                ax.plot([p["coverage"] for p in curve], [p["precision"] for p in curve], marker=".", label=name)
        ax.axhline(summary["config"]["target_precision"], color="grey", linestyle="--", label="target precision")
        ax.set_xlabel("coverage (answered / all steps)")
        ax.set_ylabel("exact-action precision")
        ax.set_ylim(0, 1.05)
        ax.set_title("router: precision vs coverage by confidence threshold")
        ax.legend(fontsize=8)

    write_report(out, "train_report", payload, md, plot)


def _bench_states(data: list[Path], model_runs: frozenset[str], max_runs: int) -> list[Any]:
    from hive_middleware.trajectories import iter_trajectories

    runs = [r for r in iter_trajectories(data) if r.run_id not in model_runs][:max_runs]
    if not runs:
        raise HiveDataError("no runs left to benchmark on after skipping the model's training runs; pass --data")
    return runs


@bench_app.command("route")
def bench_route_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for bench_route.json/.md.")],
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="Router model directory; default: the packaged model.")
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help=f"Trajectories to take states from (default {DEFAULT_BENCH_DATA})."),
    ] = None,
    max_runs: Annotated[int, typer.Option(help="Runs to take states from.")] = 40,
    batch: Annotated[int, typer.Option(help="Batch size for the throughput measurement.")] = 65_536,
    repeats: Annotated[int, typer.Option(help="Timed repetitions (the median is reported).")] = 7,
    threads: Annotated[
        int, typer.Option(help="torch threads for the batched measurement (1 is fastest on a busy 2-core box).")
    ] = 1,
) -> None:
    """Routes/s batched on pre-computed features, and state -> decision latency (p50/p95 us)."""
    import numpy as np
    import torch

    from hive_middleware.evals.report import write_report
    from hive_middleware.markdown import markdown_table
    from hive_middleware.routing import facts as facts_module
    from hive_middleware.routing import features as features_module
    from hive_middleware.routing import normalize as normalize_module
    from hive_middleware.routing import templates as templates_module
    from hive_middleware.routing.batch import BatchRouter
    from hive_middleware.routing.encode import encode_state
    from hive_middleware.routing.policy import default_model_dir, load_policy
    from hive_middleware.routing.sparse_batch import METHOD, SparseBatch, SparseBatchRouter
    from hive_middleware.stats import percentile

    if batch <= 0 or repeats <= 0 or max_runs <= 0 or threads <= 0:
        raise HiveUsageError("--batch, --repeats, --max-runs and --threads must be positive")
    torch.set_num_threads(threads)
    policy = load_policy(model_dir or default_model_dir())
    paths = data or [DEFAULT_BENCH_DATA]
    runs = _bench_states(paths, policy.training_runs, max_runs)
    states = [s.state for r in runs for s in r.steps]

    # The loaded runs are static: freeze them out of the cyclic GC so its full passes over the
    # benchmark's own data do not show up as routing latency (the router allocates little).
    gc.collect()
    gc.freeze()
    # Latency: one decide() per state, in run order, caches cleared first (each observation is new).
    for cache in (facts_module._parse, features_module._hashed_step, features_module.cached_action_type,
                  normalize_module.normalize_command):
        cache.cache_clear()
    features_module._TOKEN_CRC.clear()
    templates_module._python_prefix_of.cache_clear()
    policy.model.templates._fills.clear()
    latencies: list[float] = []
    cpu_latencies: list[float] = []
    for state in states:
        began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
        policy.decide(state)
        latencies.append((time.perf_counter_ns() - began) / 1e3)
        cpu_latencies.append((time.thread_time_ns() - began_cpu) / 1e3)

    # Throughput on pre-computed features (encode once, then time the decisions only).
    model = policy.model
    encs = [encode_state(s, model.templates, model.spec) for s in states]
    x = np.stack([e.x for e in encs])
    allowed = np.stack([np.append(e.fillable, True) for e in encs])
    groups = np.stack([e.groups for e in encs])
    reps = -(-batch // len(encs))
    xt = torch.from_numpy(np.tile(x, (reps, 1))[:batch])
    at = torch.from_numpy(np.tile(allowed, (reps, 1))[:batch])
    gt = torch.from_numpy(np.tile(groups, (reps, 1))[:batch].astype(np.int64))
    router = BatchRouter(model)
    router.decide(xt, at, gt)  # warm-up
    dense_rates: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        router.decide(xt, at, gt)
        dense_rates.append(batch / (time.perf_counter() - start))
    # The same batch as CSR (difference from the per-column mode) through the gather-sum path.
    sparse = SparseBatch.from_dense(xt.numpy(), at.numpy(), gt.numpy())
    sparse_router = SparseBatchRouter(model)
    check = sparse_router.decide(sparse)
    reference = router.decide(xt, at, gt)
    if not (torch.equal(check.answered, reference.answered) and torch.equal(check.best, reference.best)):
        raise HiveDataError("the sparse batch path disagrees with the dense one on this batch; report a bug")
    rates: list[float] = []
    cpu_rates: list[float] = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        sparse_router.decide(sparse)
        rates.append(batch / (time.perf_counter() - start))
        cpu_rates.append(batch / max(time.process_time() - cpu, 1e-9))
    latency = {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)}
    payload: dict[str, Any] = {
        "routes_per_s": float(np.median(rates)),
        "routes_per_cpu_s": float(np.median(cpu_rates)),
        "method": METHOD,
        "nnz_per_row": float(sparse.indices.shape[0] / batch),
        "dense_routes_per_s": float(np.median(dense_rates)),
        "latency_us": latency,
        "latency_cpu_us": {"p50": percentile(cpu_latencies, 50), "p95": percentile(cpu_latencies, 95)},
        "batch": batch,
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "gc_frozen_after_loading": True,
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "n_states": len(states),
        "n_runs": len(runs),
        "feature_dim": model.spec.dim,
        "n_templates": len(model.templates),
        "hidden": model.weights.hidden,
        "model": str(model_dir or default_model_dir()),
    }
    md = "# Router benchmark\n\n" + markdown_table(
        ["routes/s (batched, precomputed features)", "routes per CPU s", "dense routes/s", "latency p50 (us)",
         "latency p95 (us)", "states"],
        [[payload["routes_per_s"], payload["routes_per_cpu_s"], payload["dense_routes_per_s"], latency["p50"],
          latency["p95"], len(states)]],
    ) + f"\nBatched method: {METHOD}.\n"
    paths_written = write_report(out, "bench_route", payload, md)
    Console(stderr=True).print(
        f"routes/s {payload['routes_per_s']:,.0f}; latency p50 {latency['p50']:.1f} us, "
        f"p95 {latency['p95']:.1f} us; wrote {paths_written['json']}"
    )
