"""Command groups shared by the CLI modules; each area module adds its commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="hive",
    help="hive-middleware: route, compress, remember and guard an agent's LLM calls.\n\n"
    "Evaluations (`hive eval ...`) and benchmarks (`hive bench ...`) write JSON, Markdown and PNG "
    "reports to --out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect evaluation data (trajectories, LoCoMo).", no_args_is_help=True)
eval_app = typer.Typer(
    help="Measure an engine against its baselines on real data; writes OUT/<name>.json, .md and .png.",
    no_args_is_help=True,
)
bench_app = typer.Typer(
    help="Throughput and latency benchmarks (medians of repeated runs); writes OUT/bench_<part>.json.",
    no_args_is_help=True,
)
router_app = typer.Typer(help="Train and inspect the action router.", no_args_is_help=True)

app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(router_app, name="router")
