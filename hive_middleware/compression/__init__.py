"""Content-aware, reversible context compression.

``compress(messages, budget=..., model=...)`` returns a smaller, valid message
list plus per-message labels, stats and handles; ``expand(handle)`` returns any
compressed original byte for byte. Names load on first use so importing the
package stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hive_middleware.compression.artifacts import (
        EXPAND_TOOL,
        ArtifactStore,
        InMemoryArtifactStore,
        expand,
    )
    from hive_middleware.compression.compressor import CompressionResult, clear_caches, compress
    from hive_middleware.compression.content_types import ContentType, classify_message
    from hive_middleware.compression.eval_classifier import eval_classifier
    from hive_middleware.compression.labels import Label, MessageLabel
    from hive_middleware.compression.memory_artifacts import MemoryArtifactStore

_LAZY: dict[str, str] = {
    "EXPAND_TOOL": "hive_middleware.compression.artifacts",
    "ArtifactStore": "hive_middleware.compression.artifacts",
    "InMemoryArtifactStore": "hive_middleware.compression.artifacts",
    "expand": "hive_middleware.compression.artifacts",
    "CompressionResult": "hive_middleware.compression.compressor",
    "MemoryArtifactStore": "hive_middleware.compression.memory_artifacts",
    "clear_caches": "hive_middleware.compression.compressor",
    "eval_classifier": "hive_middleware.compression.eval_classifier",
    "compress": "hive_middleware.compression.compressor",
    "ContentType": "hive_middleware.compression.content_types",
    "classify_message": "hive_middleware.compression.content_types",
    "Label": "hive_middleware.compression.labels",
    "MessageLabel": "hive_middleware.compression.labels",
}

__all__ = [
    "EXPAND_TOOL",
    "ArtifactStore",
    "CompressionResult",
    "ContentType",
    "InMemoryArtifactStore",
    "Label",
    "MemoryArtifactStore",
    "MessageLabel",
    "classify_message",
    "clear_caches",
    "compress",
    "eval_classifier",
    "expand",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hive_middleware.compression' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
