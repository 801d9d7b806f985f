"""``hive version``."""

from __future__ import annotations

import platform

from rich.console import Console

from hive_middleware.cli.app import app


@app.command("version")
def version_command() -> None:
    """Print the hive-middleware version and the Python it runs on."""
    import hive_middleware

    Console().print(f"hive-middleware {hive_middleware.__version__} (Python {platform.python_version()})")
