"""Channels (REST and WebSocket) and the agent registry over HTTP."""

from typing import Any

from hive_middleware.integrations.server.context import ServerContext

__all__ = ["install"]


def install(app: Any, ctx: ServerContext) -> None:
    """Add this module's routes to ``app``."""
