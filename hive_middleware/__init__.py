"""hive-middleware: the layer between an agent loop and its LLM.

Hive routes mechanical actions to a small trained policy, compresses the
message list reversibly, remembers causally and bi-temporally, and guards
model calls. Public names are re-exported here; heavy modules load on first
use so ``import hive_middleware`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from hive_middleware.config import HiveConfig
from hive_middleware.errors import (
    HiveCircuitOpen,
    HiveConfigError,
    HiveCorruptionError,
    HiveDataError,
    HiveDependencyError,
    HiveError,
    HiveModelError,
    HiveModelFileError,
    HiveNotFoundError,
    HiveRateLimited,
    HiveRuntimeError,
    HiveStorageError,
    HiveTenantError,
    HiveUsageError,
    HiveValidationError,
)
from hive_middleware.types import (
    Action,
    AgentState,
    Edge,
    EdgeKind,
    MemoryKind,
    MemoryRecord,
    Message,
    RouteDecision,
    Step,
    validate_messages,
)

try:
    __version__ = version("hive-middleware")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# name -> module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    "AsyncMemoryStore": "hive_middleware.memory.store",
    "CompressionResult": "hive_middleware.compression.compressor",
    "compress": "hive_middleware.compression.compressor",
    "expand": "hive_middleware.compression.artifacts",
    "MemoryDraft": "hive_middleware.memory.store",
    "MemoryStore": "hive_middleware.memory.store",
    "SearchResult": "hive_middleware.memory.retrieval",
    "AsyncHiveStack": "hive_middleware.stack",
    "HiveStack": "hive_middleware.stack",
    "CircuitBreaker": "hive_middleware.resilience.breaker",
    "Guard": "hive_middleware.resilience.guard",
    "RateLimiter": "hive_middleware.resilience.limiter",
    "RetryPolicy": "hive_middleware.resilience.retry",
    "aguarded_completion": "hive_middleware.resilience.guarded",
    "guarded": "hive_middleware.resilience.guarded",
    "guarded_completion": "hive_middleware.resilience.guarded",
    "CallOptions": "hive_middleware.pipeline",
    "Identity": "hive_middleware.pipeline",
    "Pipeline": "hive_middleware.pipeline",
    "conversation_items": "hive_middleware.pipeline",
    "read_only": "hive_middleware.pipeline.speculation",
    "RouterPolicy": "hive_middleware.routing.policy",
    "load_policy": "hive_middleware.routing.policy",
    # Resolved on first use only: the core never imports an integration at import time.
    "agent": "hive_middleware.integrations.decorator",
}

__all__ = [
    "Action",
    "AgentState",
    "AsyncHiveStack",
    "AsyncMemoryStore",
    "CallOptions",
    "CircuitBreaker",
    "CompressionResult",
    "Edge",
    "EdgeKind",
    "Guard",
    "HiveCircuitOpen",
    "HiveConfig",
    "HiveConfigError",
    "HiveCorruptionError",
    "HiveDataError",
    "HiveDependencyError",
    "HiveError",
    "HiveModelError",
    "HiveModelFileError",
    "HiveNotFoundError",
    "HiveRateLimited",
    "HiveRuntimeError",
    "HiveStack",
    "HiveStorageError",
    "HiveTenantError",
    "HiveUsageError",
    "HiveValidationError",
    "Identity",
    "MemoryDraft",
    "MemoryKind",
    "MemoryRecord",
    "MemoryStore",
    "Message",
    "Pipeline",
    "RateLimiter",
    "RetryPolicy",
    "RouteDecision",
    "RouterPolicy",
    "SearchResult",
    "Step",
    "__version__",
    "agent",
    "aguarded_completion",
    "compress",
    "conversation_items",
    "expand",
    "guarded",
    "guarded_completion",
    "load_policy",
    "read_only",
    "validate_messages",
]

if TYPE_CHECKING:
    pass


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hive_middleware' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
