"""Entry point of the ``hive`` command: loads every area's commands, runs the app."""

from __future__ import annotations

import sys
from importlib import import_module

import typer
from rich.console import Console

from hive_middleware.cli.app import app
from hive_middleware.errors import HiveError

# Each module registers its commands on the shared groups in cli.app when imported.
_COMMAND_MODULES = (
    "hive_middleware.cli.basic",
    "hive_middleware.cli.evals_memory",
    "hive_middleware.cli.evals_traj",
    "hive_middleware.cli.router",
    "hive_middleware.cli.data",
    "hive_middleware.cli.demo",
    "hive_middleware.cli.proxy_bench",
    "hive_middleware.cli.guard",
    "hive_middleware.cli.memory",
    "hive_middleware.cli.compress",
    "hive_middleware.cli.bench_conflicts",
    "hive_middleware.cli.classify",
)

for _name in _COMMAND_MODULES:
    import_module(_name)


def run() -> None:
    """Run the CLI; a HiveError becomes a one-line message and exit status 2."""
    try:
        app(standalone_mode=False)
    except HiveError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    run()
