"""Entry point of the ``hive`` command: loads every area's commands, runs the app."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

import typer
from rich.console import Console
from typer.exceptions import TyperException

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
    "hive_middleware.cli.hivemind_bench",
    "hive_middleware.cli.guard",
    "hive_middleware.cli.memory",
    "hive_middleware.cli.compress",
    "hive_middleware.cli.bench_conflicts",
    "hive_middleware.cli.classify",
    "hive_middleware.cli.mcp",
    "hive_middleware.cli.serve",
    "hive_middleware.cli.serve_bench",
)

for _name in _COMMAND_MODULES:
    import_module(_name)


def _one_line(text: str) -> str:
    """``text`` on one line: the CLI's error contract is one line on stderr."""
    return " ".join(text.split())


def print_error(message: str) -> None:
    """Write ``error: <message>`` to stderr as one line.

    On a terminal the prefix is coloured; otherwise (pipes, CI logs) it is plain
    text, never hard-wrapped at 80 columns, so a caller can grep it.
    """
    line = _one_line(message)
    if sys.stderr.isatty():
        from rich.text import Text

        Console(stderr=True, soft_wrap=True).print(Text.assemble(("error:", "bold red"), " ", line))
    else:
        sys.stderr.write(f"error: {line}\n")
        sys.stderr.flush()


def usage_message(exc: TyperException) -> str:
    """The one-line text of a command-line usage error (bad value, missing option, unknown flag).

    Typer vendors click (``typer._click``): its usage errors derive from
    :class:`typer.exceptions.TyperException`, not from ``click.ClickException``.
    """
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "hive"
    return f"{command}: {exc.format_message()} (see '{command} --help')"


def run(argv: Sequence[str] | None = None) -> None:
    """Run the CLI. A HiveError (bad data, bad input) or a command-line usage error
    (bad option value, missing option, unknown flag or command) becomes one line on
    stderr and exit status 2; ``hive`` alone prints the help.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    from typer._click.exceptions import NoArgsIsHelpError

    try:
        app(args=list(argv) if argv is not None else None, prog_name="hive", standalone_mode=False)
    except HiveError as exc:
        print_error(exc.message)
        sys.exit(2)
    except NoArgsIsHelpError as exc:
        exc.show()  # the help text, as click does for a group called without a command
        sys.exit(exc.exit_code)
    except TyperException as exc:
        print_error(usage_message(exc))
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)


if __name__ == "__main__":
    run()
