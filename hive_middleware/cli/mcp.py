"""``hive mcp``: Hive memory as an MCP server over stdio."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Annotated

import anyio
import typer

from hive_middleware.cli.app import app


@app.command("mcp")
def mcp_stdio(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default: from the config).")
    ] = None,
) -> None:
    """Serve the memory, graph, channel and expand tools over MCP stdio (tenant: config.tenant)."""
    from hive_middleware.config import HiveConfig
    from hive_middleware.stack import HiveStack

    config = HiveConfig.load()
    if data_dir is not None:
        config = config.model_copy(update={"data_dir": str(data_dir)})
    module = import_module("hive_middleware.integrations.server.mcp")
    with HiveStack.from_config(config) as stack:
        anyio.run(module.build_mcp(stack).run_stdio_async)
