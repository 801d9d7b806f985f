"""Prometheus metrics and OpenTelemetry traces of the Hive HTTP service."""

from typing import Any

from hive_middleware.integrations.server.context import ServerContext

__all__ = ["install"]


def install(app: Any, ctx: ServerContext) -> None:
    """Add this module's routes to ``app``."""
